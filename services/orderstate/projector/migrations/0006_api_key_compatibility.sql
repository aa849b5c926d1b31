-- How the REST API reads one key's requests (README, "Coming from Seven Senders"):
--   profile         the client's known quirks ('standard', 'sevensenders', 'spryker',
--                   'woocommerce'; checked by the code that writes keys)
--   unknown_fields  'ignore' or 'refuse' body fields orderstate does not know; NULL follows
--                   ORDERSTATE_API_UNKNOWN_FIELDS
--   time_zone       IANA zone naive datetimes of this key are read in; NULL follows
--                   ORDERSTATE_API_TIME_ZONE
ALTER TABLE api_keys
    ADD COLUMN profile        text NOT NULL DEFAULT 'standard',
    ADD COLUMN unknown_fields text CHECK (unknown_fields IN ('ignore', 'refuse')),
    ADD COLUMN time_zone      text;

-- GET /v2/shipments/{id} finds a shipment by its id within the shop; GET /v2/shipments pages
-- through a shop's shipments in link order.
CREATE INDEX order_shipments_shop_shipment ON order_shipments (shop_id, shipment_id);
CREATE INDEX order_shipments_shop_linked ON order_shipments (shop_id, linked_at, order_id, shipment_id);
