-- Which form the write path stores order views in (projector/stored_views.py). Releases
-- before migration 0009 read only the form with the history entries in the view, and during
-- an upgrade their pods run beside this release's. So a database that already has orders
-- keeps that form until `orderstate migrate --views-without-history` says every pod runs a
-- release that reads the summary form; a new, empty database starts in the summary form.
CREATE TABLE view_form (
    only_row     boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    with_history boolean NOT NULL
);
INSERT INTO view_form (with_history) SELECT EXISTS (SELECT 1 FROM orders);
