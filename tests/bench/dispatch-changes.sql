-- dispatch-changes.sql: what the legacy application changes between two
-- runs, for the incremental benchmark on the shared dispatch fixture: about
-- 5 % of the rows of every table with a change time are touched, and a few
-- orders are new.  Deterministic (ids modulo 20).
\set ON_ERROR_STOP on
begin;
update dispatch_order set instructions = instructions || ' (changed)', updated_at = now() where id % 20 = 3;
update dispatch_orderitem set discount = discount + 1, updated_at = now() where id % 20 = 3;
update dispatch_patient set notes = notes || ' (changed)', updated_at = now() where id % 20 = 3;
update dispatch_invoice set status = status, updated_at = now() where id % 20 = 3;
update dispatch_comment set body = body || ' (edited)', updated_at = now() where id % 20 = 3 and body is not null;
update dispatch_shipment set tracking_number = tracking_number || 'X', updated_at = now() where id % 20 = 3;
update dispatch_productionstep set updated_at = now() where id % 20 = 3;
update dispatch_appointment set updated_at = now() where id % 20 = 3;
update dispatch_prescription set updated_at = now() where id % 20 = 3;
update dispatch_doctor set phone = phone, updated_at = now() where id % 20 = 3;
insert into dispatch_orderstatushistory (order_id, from_status_id, to_status_id, changed_by_id, changed_at, note)
select id, status_id, status_id, created_by_id, now(), 'benchmark change' from dispatch_order where id % 20 = 3;
commit;
