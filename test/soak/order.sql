-- a new order (see soak_new_order in setup.sql)
SELECT soak_new_order();
