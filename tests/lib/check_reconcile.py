#!/usr/bin/python3
"""check_reconcile.py JSON KNOB MIN_GENERATED - is `hubcap-fleet --json`'s reconciliation clean?

Clean: 0 missing, 0 duplicated in silver; every malformed event quarantined under the rule
the receiver's rules name (and none promoted), their share within 40 % of the --malformed KNOB;
the duplicate knob made real duplicates; some late events were too late; nothing dead-lettered;
every valid event in silver or too_late. Exit 0 when clean, else the first broken assertion.
"""
import json
import sys

r = json.loads(sys.argv[1])
knob, least = float(sys.argv[2]), int(sys.argv[3])
q, e = r["quarantined"], r["expected_quarantine"]
assert r["generated"] > least, f"too few events generated ({r['generated']})"
assert r["missing"] == 0, f"{r['missing']} events missing from silver"
assert r["duplicated"] == 0, f"{r['duplicated']} events duplicated in silver"
assert r["unaccounted_malformed"] == 0, \
    f"{r['unaccounted_malformed']} malformed events neither in silver nor quarantined"
assert r["malformed_in_silver"] == 0, f"{r['malformed_in_silver']} malformed events promoted to silver"
assert r["generated"] > r["distinct"], "the duplicate knob made no duplicates"
assert r["dead"] == 0, f"{r['dead']} events dead-lettered: the hub refused them"
mal = sum(n for k, n in q.items() if k != "too_late")
assert mal == r["malformed"] > 0, f"quarantined {q} but {r['malformed']} malformed"
for k, n in e.items():
    if k != "too_late":
        assert q.get(k) == n, f"rule {k}: expected {n}, quarantined {q.get(k)}"
share = r["malformed"] / r["distinct"]
assert 0.6 * knob < share < 1.4 * knob, f"malformed share {share:.3f}, the knob was {knob}"
assert q.get("too_late", 0) > 0, "no late event was too late"
assert r["in_silver"] + q.get("too_late", 0) == r["valid"] - r["dead"], \
    f"valid {r['valid']} = in silver {r['in_silver']} + too_late {q.get('too_late', 0)} does not hold"
