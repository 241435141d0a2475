SELECT pgq_step();
