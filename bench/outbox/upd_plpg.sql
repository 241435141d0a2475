\set id random(1, 10000)
UPDATE items_plpg SET qty = qty + 1 WHERE id = :id;
