-- test/demo/report_html.sql -- demo-report/index.html, drawn by SQL
--
-- Functions that turn the report's queries (report_schema.sql) into one
-- XHTML page: tables, an inline SVG timeline of orders settled per second,
-- and the state machine (flow.svg: the state graph of paycons.state_graph()
-- with how many orders took each edge, drawn by Graphviz).  The page is
-- well-formed XML and needs no script or download.

\set ON_ERROR_STOP on
SET client_min_messages = warning;
-- paycons' operators (order_state =) resolve when the functions are created
SET search_path = demo, paycons, public;

-- XML-escape text
CREATE FUNCTION demo.x(t text) RETURNS text
    LANGUAGE sql IMMUTABLE
    RETURN replace(replace(replace(coalesce(t, ''), '&', '&amp;'), '<', '&lt;'), '>', '&gt;');

/* a table of rows (json array of objects, in column order) */
CREATE FUNCTION demo.html_table(title text, rows json, note text DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = demo, paycons, public
AS $$
DECLARE
    r     json;
    k     text;
    v     json;
    head  text := '';
    body  text := '';
    cells text;
    first boolean := true;
    s     text;
BEGIN
    IF rows IS NULL OR json_array_length(rows) = 0 THEN
        RETURN format('<h3>%s</h3><p class="none">none</p>', demo.x(title));
    END IF;
    FOR r IN SELECT * FROM json_array_elements(rows) LOOP
        cells := '';
        FOR k, v IN SELECT * FROM json_each(r) LOOP
            IF first THEN
                head := head || '<th>' || demo.x(k) || '</th>';
            END IF;
            s := v #>> '{}';
            IF k = 'ok' THEN
                cells := cells || CASE WHEN s = 'true' THEN '<td class="pass">&#x2713;</td>'
                                       ELSE '<td class="fail">&#x2717;</td>' END;
            ELSIF json_typeof(v) = 'number' OR s ~ '^-?[0-9][0-9,]*(\.[0-9]+)?$' THEN
                cells := cells || '<td class="n">' || demo.x(s) || '</td>';
            ELSE
                cells := cells || '<td>' || demo.x(s) || '</td>';
            END IF;
        END LOOP;
        first := false;
        body := body || '<tr>' || cells || '</tr>' || E'\n';
    END LOOP;
    RETURN format(E'<h3>%s</h3>%s<table>\n<thead><tr>%s</tr></thead>\n<tbody>\n%s</tbody></table>\n',
                  demo.x(title),
                  CASE WHEN note IS NULL THEN '' ELSE '<p class="note">' || demo.x(note) || '</p>' END,
                  head, body);
END;
$$;

/* the timeline: orders settled per second (stacked), webhook requests per second (line) */
CREATE FUNCTION demo.timeline_svg()
    RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = demo, paycons, public
AS $$
DECLARE
    w     constant int := 940;
    h     constant int := 300;
    ml    constant int := 56;
    mr    constant int := 16;
    mt    constant int := 24;
    mb    constant int := 44;
    pw    int := w - ml - mr;
    ph    int := h - mt - mb;
    n     int;
    ymax  numeric;
    bw    numeric;
    step  int;
    svg   text;
    t     record;
    y0    numeric;
    pts   text := '';
    m     record;
BEGIN
    SELECT count(*), greatest(max(paid + closed + refunded), max(requests), 1)
      INTO n, ymax FROM demo.timeline();
    IF n = 0 THEN
        RETURN '<p class="none">no orders</p>';
    END IF;
    -- a round top for the y axis
    ymax := (SELECT min(c) FROM unnest(ARRAY[10, 20, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000,
                                              10000, 20000, 50000, 100000]) AS c WHERE c >= ymax);
    ymax := coalesce(ymax, 1000000);
    bw := pw::numeric / n;
    step := CASE WHEN n <= 20 THEN 1 WHEN n <= 60 THEN 5 WHEN n <= 150 THEN 10 WHEN n <= 600 THEN 30 ELSE 60 END;
    svg := format('<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" '
                  'role="img" aria-label="orders settled per second">', w, h, w, h);
    svg := svg || '<style>text{font:11px sans-serif;fill:#333}.ax{stroke:#999;stroke-width:1}'
                  '.grid{stroke:#e4e4e4}.ms{stroke:#7a4fb8;stroke-dasharray:4 3}.msl{fill:#7a4fb8}</style>';
    -- grid and y axis
    FOR i IN 0..4 LOOP
        y0 := mt + ph - ph * i / 4.0;
        svg := svg || format('<line class="grid" x1="%s" x2="%s" y1="%s" y2="%s"/>', ml, ml + pw, round(y0, 1), round(y0, 1))
                   || format('<text x="%s" y="%s" text-anchor="end">%s</text>', ml - 6, round(y0 + 4, 1), round(ymax * i / 4));
    END LOOP;
    -- bars
    FOR t IN SELECT * FROM demo.timeline() LOOP
        y0 := mt + ph;
        IF t.paid > 0 THEN
            svg := svg || format('<rect x="%s" y="%s" width="%s" height="%s" fill="#3a9d5d"><title>second %s: %s paid</title></rect>',
                                 round(ml + t.sec * bw + 0.5, 2), round(y0 - ph * t.paid / ymax, 2),
                                 round(greatest(bw - 1, 0.5), 2), round(ph * t.paid / ymax, 2), t.sec, t.paid);
            y0 := y0 - ph * t.paid / ymax;
        END IF;
        IF t.closed > 0 THEN
            svg := svg || format('<rect x="%s" y="%s" width="%s" height="%s" fill="#8a8f98"><title>second %s: %s closed</title></rect>',
                                 round(ml + t.sec * bw + 0.5, 2), round(y0 - ph * t.closed / ymax, 2),
                                 round(greatest(bw - 1, 0.5), 2), round(ph * t.closed / ymax, 2), t.sec, t.closed);
            y0 := y0 - ph * t.closed / ymax;
        END IF;
        IF t.refunded > 0 THEN
            svg := svg || format('<rect x="%s" y="%s" width="%s" height="%s" fill="#e08a2c"><title>second %s: %s refunded</title></rect>',
                                 round(ml + t.sec * bw + 0.5, 2), round(y0 - ph * t.refunded / ymax, 2),
                                 round(greatest(bw - 1, 0.5), 2), round(ph * t.refunded / ymax, 2), t.sec, t.refunded);
        END IF;
        pts := pts || format('%s,%s ', round(ml + (t.sec + 0.5) * bw, 1), round(mt + ph - ph * t.requests / ymax, 1));
        IF t.sec % step = 0 THEN
            svg := svg || format('<text x="%s" y="%s" text-anchor="middle">%s</text>',
                                 round(ml + (t.sec + 0.5) * bw, 1), mt + ph + 15, t.sec);
        END IF;
    END LOOP;
    svg := svg || format('<polyline fill="none" stroke="#2f6fb3" stroke-width="1.5" points="%s"/>', trim(pts));
    -- moments of the day
    FOR m IN SELECT ms.*, row_number() OVER (ORDER BY ms.sec) AS rn FROM demo.milestones() ms LOOP
        svg := svg || format('<line class="ms" x1="%s" x2="%s" y1="%s" y2="%s"/><text class="msl" x="%s" y="%s">%s</text>',
                             round(ml + m.sec * bw, 1), round(ml + m.sec * bw, 1), mt, mt + ph,
                             round(ml + m.sec * bw + 3, 1), mt + 10 + 13 * ((m.rn - 1) % 3), demo.x(m.label));
    END LOOP;
    svg := svg || format('<line class="ax" x1="%s" x2="%s" y1="%s" y2="%s"/>', ml, ml + pw, mt + ph, mt + ph)
               || format('<line class="ax" x1="%s" x2="%s" y1="%s" y2="%s"/>', ml, ml, mt, mt + ph)
               || format('<text x="%s" y="%s" text-anchor="middle">seconds since the first order</text>', ml + pw / 2, h - 6)
               || format('<text x="14" y="%s" transform="rotate(-90 14 %s)" text-anchor="middle">per second</text>',
                         mt + ph / 2, mt + ph / 2);
    -- legend
    svg := svg || format('<rect x="%s" y="4" width="10" height="10" fill="#3a9d5d"/><text x="%s" y="13">orders paid</text>', ml + 8, ml + 22)
               || format('<rect x="%s" y="4" width="10" height="10" fill="#8a8f98"/><text x="%s" y="13">orders closed</text>', ml + 108, ml + 122)
               || format('<rect x="%s" y="4" width="10" height="10" fill="#e08a2c"/><text x="%s" y="13">orders refunded</text>', ml + 212, ml + 226)
               || format('<line x1="%s" x2="%s" y1="9" y2="9" stroke="#2f6fb3" stroke-width="2"/><text x="%s" y="13">webhook requests</text>', ml + 328, ml + 346, ml + 350);
    RETURN svg || '</svg>';
END;
$$;

/* the state machine with what this run did: orders now in each state, orders along each edge */
CREATE FUNCTION demo.flow_dot()
    RETURNS text
    LANGUAGE sql STABLE
BEGIN ATOMIC
    WITH e AS (
        SELECT m[1] AS f, m[2] AS t
          FROM regexp_matches(paycons.state_graph('dot'), '([a-z_]+) -> ([a-z_]+);', 'g') AS m),
    h AS (
        SELECT from_state::text AS f, to_state::text AS t, count(*) AS n
          FROM paycons.order_history WHERE from_state IS NOT NULL GROUP BY 1, 2),
    mx AS (SELECT greatest(max(n), 2) AS mx FROM h),
    s AS (SELECT state::text AS st, count(*) AS n FROM paycons.orders GROUP BY 1),
    nodes AS (
        SELECT format('  %s [label="%s%s"%s];', a.st::text, a.st::text,
                      CASE WHEN s.n IS NULL THEN '' ELSE '\n' || s.n || ' now' END,
                      CASE WHEN s.n IS NULL THEN ', color=gray60, fontcolor=gray40'
                           ELSE ', style="rounded,filled", fillcolor="#eaf4ec"' END) AS line
          FROM paycons.all_states() AS a(st)
          LEFT JOIN s ON s.st = a.st::text),
    edges AS (
        SELECT format('  %s -> %s [%s];', e.f, e.t,
                      CASE WHEN h.n IS NULL THEN 'style=dashed, color=gray70'
                           ELSE format('label="%s", penwidth=%s', h.n,
                                       round(1 + 4 * ln(h.n + 1::numeric) / ln((SELECT mx FROM mx) + 1::numeric), 2)) END) AS line
          FROM e LEFT JOIN h ON h.f = e.f AND h.t = e.t)
    SELECT E'digraph flow {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname="sans-serif"];\n'
           || E'  edge [fontname="sans-serif", fontsize=10];\n'
           || (SELECT string_agg(line, E'\n') FROM nodes) || E'\n'
           || (SELECT string_agg(line, E'\n') FROM edges) || E'\n}\n';
END;

/* the whole page; meta: the run's parameters (orders, seconds, load, ...) */
CREATE FUNCTION demo.report_html(meta json)
    RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = demo, paycons, public
AS $$
DECLARE
    inv     json;
    bad     bigint;
    page    text;
BEGIN
    SELECT json_agg(i), count(*) FILTER (WHERE NOT i.ok) INTO inv, bad FROM demo.invariants() i;
    page := E'<!DOCTYPE html>\n<html xmlns="http://www.w3.org/1999/xhtml" lang="en">\n<head>\n'
         || E'<meta charset="utf-8"/>\n<title>paycons demo report</title>\n<style>\n'
         || E'body{font:14px/1.45 -apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;margin:24px auto;max-width:1000px;color:#222;padding:0 16px}\n'
         || E'h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 6px;border-bottom:1px solid #ddd;padding-bottom:3px}\n'
         || E'h3{font-size:14px;margin:16px 0 4px}.sub{color:#555;margin:0 0 12px}\n'
         || E'table{border-collapse:collapse;margin:4px 0 8px;font-size:13px}th,td{border:1px solid #ddd;padding:3px 8px;vertical-align:top}\n'
         || E'th{background:#f4f6f8;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}\n'
         || E'td.pass{color:#1d7a3c;font-weight:bold;text-align:center}td.fail{color:#b3261e;font-weight:bold;text-align:center}\n'
         || E'.verdict{font-size:16px;padding:8px 12px;border-radius:6px;display:inline-block;margin:6px 0}\n'
         || E'.good{background:#e7f5ea;color:#1d5e30}.bad{background:#fbe9e7;color:#8c1d18}\n'
         || E'.note,.none{color:#666;margin:2px 0}.grid{display:flex;flex-wrap:wrap;gap:0 28px}\n'
         || E'img{max-width:100%;border:1px solid #eee}code{background:#f4f4f4;padding:0 3px}\n'
         || E'</style>\n</head>\n<body>\n';
    page := page || '<h1>paycons: a payment storm, repaired inside PostgreSQL</h1>' || E'\n'
         || format('<p class="sub">%s orders on an Alipay-like and a WeChat-Pay-v3-like channel; run %s, %s s '
                   '(load average %s on %s cores); paycons %s on PostgreSQL %s. Every figure on this page is a '
                   'query of the database (<code>test/demo/report_schema.sql</code>).</p>',
                   demo.x(meta->>'orders'), demo.x(meta->>'started'), demo.x(meta->>'seconds'),
                   demo.x(meta->>'load'), demo.x(meta->>'cores'),
                   demo.x((SELECT extversion FROM pg_extension WHERE extname = 'paycons')),
                   demo.x(current_setting('server_version'))) || E'\n';
    page := page || format('<p class="verdict %s">%s</p>', CASE WHEN bad = 0 THEN 'good' ELSE 'bad' END,
                           CASE WHEN bad = 0 THEN '0 lost, 0 double-applied, every cent accounted: every check holds.'
                                ELSE bad || ' check(s) FAILED: see below.' END) || E'\n';
    page := page || '<p class="note">The storm (test/demo/sim/): customers pay within the first 40% of their '
         || 'pay window; the channels deliver each notification on their own retry schedule in compressed time, '
         || 'about 30% of them more than once (lost answers, two channel servers at once); for 5% of the '
         || 'orders every notification is lost; 1% are forged first by an attacker, 1% state the wrong '
         || 'amount; 3% of the customers fail '
         || 'a first attempt (its notice arriving before or after the success), 2% never pay, 1% pay after the '
         || 'order was closed; 3% of the orders are refunded in full or in part, and some refunds fail at '
         || 'the channel first. The day''s last orders are paid in its last second. The figures below are '
         || 'what the database recorded.</p>' || E'\n';
    page := page || '<h2>Invariants</h2>' || demo.html_table('Checks, computed from the database', inv);
    page := page || '<h2>The day</h2>' || demo.timeline_svg() || E'\n'
         || demo.html_table('Moments of the day (seconds)', (SELECT json_agg(m) FROM demo.milestones() m));
    page := page || '<h2>Orders and money</h2><div class="grid"><div>'
         || demo.html_table('Orders by state', (SELECT json_agg(o) FROM demo.orders_by_state() o))
         || '</div><div>'
         || demo.html_table('Where the money went', (SELECT json_agg(m) FROM demo.money() m))
         || '</div></div>' || E'\n';
    page := page || '<h2>Callbacks</h2>'
         || demo.html_table('Requests and answers the shop saw (shop.payment_log): replays are answered with the stored outcome',
                            (SELECT json_agg(d) FROM demo.deliveries() d))
         || demo.html_table('The inbox, paycons.callbacks: one row per channel transaction, by source and outcome',
                            (SELECT json_agg(c) FROM demo.callbacks_by_outcome() c));
    page := page || '<h2>Repairs</h2>'
         || demo.html_table('Compensations', (SELECT json_agg(c) FROM demo.compensations() c))
         || demo.html_table('Statements loaded', (SELECT json_agg(s) FROM demo.statements() s))
         || demo.html_table('Statement differences, by class and how each was resolved',
                            (SELECT json_agg(d) FROM demo.statement_diffs() d))
         || demo.html_table('The operator''s review decisions (resolve_review)',
                            (SELECT json_agg(r) FROM demo.review_summary() r))
         || demo.html_table('What the background worker did (paycons.stats())',
                            (SELECT json_agg(w) FROM demo.worker() w))
         || demo.html_table('Each review decision (the operator''s script: test/demo/operator.sql)',
                            (SELECT json_agg(r) FROM demo.reviews() r));
    page := page || '<h2>Outbox</h2>'
         || demo.html_table('Events delivered to the consumer (shop.delivered_events)',
                            (SELECT json_agg(o) FROM demo.outbox_delivered() o));
    page := page || '<h2>The state machine</h2>'
         || '<p class="note">What this run did: orders in each state now, orders along each edge '
         || '(dashed: not taken). The machine itself, from <code>paycons.state_graph()</code>: '
         || '<a href="states.svg">states.svg</a>.</p>'
         || '<p><img src="flow.svg" alt="the order state machine with this run''s counts"/></p>'
         || E'\n</body>\n</html>\n';
    RETURN page;
END;
$$;
