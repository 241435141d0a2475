SELECT soak_resolve();
