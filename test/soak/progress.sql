SELECT soak_progress(soak_pick(5000));
