-- by hand, besides the worker: a second runner returns {"ran": false}
SELECT paycons.run_maintenance() IS NOT NULL;
