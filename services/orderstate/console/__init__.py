"""The web console (/ui): server-rendered pages of the REST API process for people, reading
through the API's own read code (README "The web console")."""
