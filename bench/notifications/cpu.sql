-- bench/notifications/cpu.sql -- backend CPU time per call (utime + stime
-- of the backend itself, from /proc/self/stat: Linux, superuser), one
-- transaction per call, for a machine shared with other work where tps
-- mostly measures the scheduler.  Used by run.sh.
CREATE OR REPLACE FUNCTION bn.cpu_ticks() RETURNS bigint LANGUAGE sql AS
$$ SELECT split_part(s, ' ', 12)::bigint + split_part(s, ' ', 13)::bigint
     FROM (SELECT substr(t, strpos(t, ') ') + 2) AS s FROM pg_read_file('/proc/self/stat') t) x $$;

CREATE OR REPLACE PROCEDURE bn.cpu_loop(variant text, first int, n int, INOUT ticks bigint DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    t0 bigint;
    r record;
BEGIN
    t0 := bn.cpu_ticks();
    FOR i IN first .. first + n - 1 LOOP
        IF variant = 'alipay' THEN
            SELECT x.* INTO r FROM bn.alipay b, paycons.apply_notification('bn_alipay', b.body, b.headers) x WHERE b.n = i;
        ELSIF variant = 'wechat' THEN
            SELECT x.* INTO r FROM bn.wechat b, paycons.apply_notification('bn_wechat', b.body, b.headers) x WHERE b.n = i;
        ELSIF variant = 'callback' THEN
            SELECT x.* INTO r FROM bn.facts f,
                   paycons.apply_callback('bn_cb', f.txn, f.order_id, 'payment', 'success', 1230, 'CNY') x WHERE f.n = i;
        ELSE
            SELECT x.* INTO r FROM bn.facts f,
                   paycons.apply_callback('bn_cbh', f.txn, 'bn-cbh-' || f.n, 'payment', 'success', 1230, 'CNY',
                                          NULL, f.sig, f.body) x WHERE f.n = i;
        END IF;
        IF r.outcome <> 'applied' THEN
            RAISE EXCEPTION 'variant % call % answered %', variant, i, r.outcome;
        END IF;
        COMMIT;
    END LOOP;
    ticks := bn.cpu_ticks() - t0;
END $$;
