\set id random(1, 10000)
UPDATE items_none SET qty = qty + 1 WHERE id = :id;
