\set id random(1, 10000)
UPDATE items_c SET qty = qty + 1 WHERE id = :id;
