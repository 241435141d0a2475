SELECT soak_consume('soak-consumer', 0.05);
