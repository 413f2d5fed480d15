#!/usr/bin/env bash
# make demo: the Lease Manager kernel end to end through the pda-lease CLI, on the
# conformance vectors' fixed keys (nothing here is random except the keygen step).
set -euo pipefail
cd "$(dirname "$0")/.."
V=specs/vectors
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
field() { python -c 'import json,sys; d=json.load(sys.stdin); print(d[sys.argv[1]])' "$1"; }
decide() { pda-lease decide "$1" || true; }
verify() { pda-lease verify "$1" || true; }

say "1. GRANT: a LOW-sensitivity manifest, trusted, inside its execution window"
pda-lease decide "$V/decide-grant-low.json" | tee "$work/grant.json"

say "2. Inspect the lease token (COSE_Sign1 / CWT, decoded without verification)"
pda-lease inspect "$(field token < "$work/grant.json")"

say "3. The executor's gate: verify the token, with the holder's proof of possession"
verify "$V/verify-valid.json"

say "4. Each kind of DENY"
for vector in decide-deny-manifest-missing-field decide-deny-window-closed \
              decide-deny-epoch decide-deny-below-threshold decide-deny-hrc-missing; do
  printf -- '-- %s\n' "$vector"
  decide "$V/$vector.json"
done
for vector in verify-revoked verify-proof-other-holder verify-expired verify-alg-eddsa; do
  printf -- '-- %s\n' "$vector"
  verify "$V/$vector.json"
done

say "5. Hardware-rooted confirmation: a HIGH manifest needs an HRC signature"
python - "$V/decide-grant-high-hrc.json" "$work" <<'PY'
import hashlib, json, sys
vector = json.load(open(sys.argv[1]))
work = sys.argv[2]
json.dump(vector["input"]["manifest"], open(f"{work}/manifest.json", "w"))
seed = hashlib.sha256(b"pda-lease vector key: hrc").hexdigest()
open(f"{work}/hrc.seed", "w").write(seed)
request = dict(vector["input"], hrc_token=None)
json.dump(request, open(f"{work}/request.json", "w"))
PY
printf -- '-- without confirmation\n'
decide "$work/request.json"
printf -- '-- the HRC device signs the manifest digest at t = 95 s\n'
pda-lease hrc-sign --key "$work/hrc.seed" --manifest "$work/manifest.json" \
  --epoch "$(python -c 'import json,sys; print(json.load(open(sys.argv[1]))["input"]["now"]["epoch"])' "$V/decide-grant-high-hrc.json")" \
  --ns 95000000000 | tee "$work/hrc.json"
python - "$work" <<'PY'
import json, sys
work = sys.argv[1]
request = json.load(open(f"{work}/request.json"))
request["hrc_token"] = json.load(open(f"{work}/hrc.json"))
json.dump(request, open(f"{work}/request.json", "w"))
PY
printf -- '-- with confirmation\n'
decide "$work/request.json"

say "6. Standing: the same lease re-judged later (expiry, revocation, trust decay)"
for vector in standing-active standing-trust-decayed standing-policy-changed; do
  printf -- '-- %s\n' "$vector"
  pda-lease standing "$V/$vector.json" || true
done

say "7. A new key pair for an issuer (seed file is created 0600, never overwritten)"
pda-lease keygen --out "$work/issuer"

say "8. Conformance: every vector of the spec"
pda-lease conformance "$V"

# ------------------------------------------------------------------------------------------
# The durable lease manager: a state directory shared by every process that opens it.
# ------------------------------------------------------------------------------------------
S="$work/state"
export PDA_LEASE_STATE="$S"
json() { python -c 'import json,sys; d=json.load(sys.stdin); print(d[sys.argv[1]])' "$1"; }

say "9. The durable manager: initialise a state directory (issuer key, policy, first trust snapshot)"
pda-lease keygen --out "$work/holder" >/dev/null
pda-lease clock | tee "$work/clock.json"
python - "$work" <<'PY'
import json, sys
from pda_lease.conformance import base_manifest, base_policy, base_snapshot
from pda_lease import cose_key_thumbprint
work = sys.argv[1]
issuer_public = bytes.fromhex(open(f"{work}/issuer.pub").read().strip())
policy = dict(base_policy(), issuer="pda-lease:demo", issuer_kid=cose_key_thumbprint(issuer_public).hex())
json.dump(policy, open(f"{work}/policy.json", "w"), indent=2)
clock = json.load(open(f"{work}/clock.json"))
manifest = base_manifest()
manifest["holder"]["public_key"] = open(f"{work}/holder.pub").read().strip()
manifest["window"] = {"epoch": clock["epoch"], "not_before_ns": clock["ns"],
                      "not_after_ns": clock["ns"] + 3600 * 10**9}   # this boot, the next hour
json.dump(manifest, open(f"{work}/manifest.json", "w"), indent=2)
json.dump(base_snapshot(8000), open(f"{work}/trust-7.json", "w"))
json.dump(dict(base_snapshot(1000), sequence=8), open(f"{work}/trust-8.json", "w"))
json.dump(dict(base_snapshot(9000), sequence=9), open(f"{work}/trust-9.json", "w"))
PY
pda-lease init --issuer-key "$work/issuer.seed" --policy "$work/policy.json" --trust "$work/trust-7.json"
pda-lease audit checkpoint > "$work/checkpoint-1.note"

authorize_request() {  # $1 = grant JSON file -> a request with a fresh challenge signed by the holder
  local lease token challenge
  lease=$(json lease_id < "$1"); token=$(json token < "$1")
  challenge=$(python -c 'import os; print(os.urandom(32).hex())')
  pda-lease holder-prove --key "$work/holder.seed" --lease-id "$lease" --challenge "$challenge" > "$work/proof.json"
  python - "$token" "$work" <<'PY'
import json, sys
token, work = sys.argv[1], sys.argv[2]
print(json.dumps({"token": token, "holder_proof": json.load(open(f"{work}/proof.json")),
                  "manifest": json.load(open(f"{work}/manifest.json"))}))
PY
}

say "10. acquire: the grant is in the audit log and committed to the store before the token is printed"
pda-lease acquire "$work/manifest.json" > "$work/grant-1.json"
python -c 'import json,sys; d=json.load(open(sys.argv[1])); print(json.dumps({k: d[k] for k in ("decision", "lease_id", "issued_at_ns", "expires_at_ns")}, indent=2))' "$work/grant-1.json"

say "11. authorize: the executor's gate (signature, binding, time, revocation, trust, holder proof)"
authorize_request "$work/grant-1.json" > "$work/request-1.json"
pda-lease authorize "$work/request-1.json"
printf -- '-- the same holder proof again is refused (a proof is accepted once)\n'
pda-lease authorize "$work/request-1.json" || true

say "12. revoke: durable before it returns; every process sharing the state then denies the lease"
pda-lease revoke "$(json lease_id < "$work/grant-1.json")" --reason "operator: task cancelled"
authorize_request "$work/grant-1.json" > "$work/request-1b.json"
pda-lease authorize "$work/request-1b.json" || true

say "13. trust decay: a new snapshot drops files.read to 1000 (< 3000); live leases are revoked"
python - "$work" <<'PY'
import json, sys
work = sys.argv[1]  # a second task of the same manifest shape, so it gets its own lease
manifest = json.load(open(f"{work}/manifest.json")); manifest["task_id"] = "task-2026-0002"
json.dump(manifest, open(f"{work}/manifest.json", "w"))
PY
pda-lease acquire "$work/manifest.json" > "$work/grant-2.json"
pda-lease status
pda-lease trust apply "$work/trust-8.json"
authorize_request "$work/grant-2.json" > "$work/request-2.json"
pda-lease authorize "$work/request-2.json" || true
printf -- '-- and nothing new is granted on the decayed trust\n'
pda-lease acquire "$work/manifest.json" || true

say "14. restart: a new process reopens the state directory; nothing acknowledged is lost"
pda-lease status
pda-lease audit verify

say "15. tamper: edit one byte of an old audit line; audit verify names the line"
cp "$S/audit.jsonl" "$work/audit.backup"
python - "$S/audit.jsonl" <<'PY'
import sys
path = sys.argv[1]
lines = open(path, "rb").read().split(b"\n")
lines[3] = lines[3].replace(b'"files.read"', b'"files.reaD"', 1)
open(path, "wb").write(b"\n".join(lines))
PY
pda-lease audit verify || echo "(exit status $?)"
cp "$work/audit.backup" "$S/audit.jsonl"

say "16. reboot: trust restored, a new lease; after a reboot (a new clock epoch) it is expired"
pda-lease trust apply "$work/trust-9.json" > /dev/null
python - "$work" <<'PY'
import json, sys
work = sys.argv[1]
manifest = json.load(open(f"{work}/manifest.json")); manifest["task_id"] = "task-2026-0003"
json.dump(manifest, open(f"{work}/manifest.json", "w"))
PY
pda-lease acquire "$work/manifest.json" > "$work/grant-3.json"
python -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["decision"], d["lease_id"])' "$work/grant-3.json"
python - "$S" <<'PY'
import json, sys
from pda_lease import Ed25519Signer, LeasePolicy
from pda_lease.adapters import BootClock, FakeClock
from pda_lease.manager import LeaseManager
state = sys.argv[1]
signer = Ed25519Signer(bytes.fromhex(open(f"{state}/issuer.seed").read().strip()))
policy = LeasePolicy.from_json(json.load(open(f"{state}/policy.json")))
# The API takes any Clock; a FakeClock in a new epoch stands in for the next boot here.
for name, clock in (("this boot", BootClock()), ("after a reboot", FakeClock("next-boot-id", 5))):
    with LeaseManager.open(state, signer=signer, policy=policy, clock=clock) as manager:
        print(f"{name:>15}: {json.dumps(manager.status().counts())}")
PY
pda-lease audit verify

say "17. transparency: every commit signs a checkpoint (C2SP note) of the audit log's Merkle root"
pda-lease audit checkpoint | tee "$work/checkpoint-2.note"
printf -- '-- the verifier key, to be trusted out of band:\n'
pda-lease audit checkpoint --vkey-only
printf -- '-- an RFC 9162 consistency proof that the log only grew since initialisation:\n'
pda-lease audit consistency "$work/checkpoint-1.note" "$work/checkpoint-2.note"

say "18. replay: every recorded decision re-run through the kernel, byte for byte"
pda-lease replay --quiet "$S/audit.jsonl"

say "19. a receipt: one lease's audit entries with inclusion proofs, verified offline"
pda-lease receipt export "$(json lease_id < "$work/grant-1.json")" --out "$work/receipt.json"
pda-lease receipt verify "$work/receipt.json" --issuer-key "$(pda-lease audit checkpoint --vkey-only)"
printf -- '-- the same receipt with one byte changed:\n'
python - "$work/receipt.json" <<'PY'
import sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
data[len(data) // 2] ^= 0x01
open(path, "wb").write(bytes(data))
PY
pda-lease receipt verify "$work/receipt.json" --issuer-key "$(pda-lease audit checkpoint --vkey-only)" || true

# ------------------------------------------------------------------------------------------
# Governance (spec §13): a signed policy from YAML, principals proven by signature, approvals.
# The example policy's keys come from public seeds (examples/policy/README.md): demo only.
# ------------------------------------------------------------------------------------------
G="$work/governed"
mkdir -p "$G/keys"
python - "$G" <<'PY'
import hashlib, json, sys
from nacl.signing import SigningKey
from pda_lease import cose_key_thumbprint
from pda_lease.conformance import base_policy
G = sys.argv[1]
for name in ("issuer", "policy", "alice", "ci-bot", "bob", "carol", "dave", "erin"):
    seed = hashlib.sha256(b"pda-lease example key: " + name.encode()).digest()
    open(f"{G}/keys/{name}.seed", "w").write(seed.hex() + "\n")
    open(f"{G}/keys/{name}.pub", "w").write(SigningKey(seed).verify_key.encode().hex() + "\n")
issuer = bytes.fromhex(open(f"{G}/keys/issuer.pub").read().strip())
initial = dict(base_policy(), issuer="pda-lease:acme", issuer_kid=cose_key_thumbprint(issuer).hex())
json.dump(initial, open(f"{G}/initial-policy.json", "w"), indent=2)
PY
gov() { pda-lease --state "$G/state" "$@"; }

say "20. policy as code: lint the YAML sources, then a broken copy, then build the signed-policy document"
pda-lease policy lint examples/policy
cp -r examples/policy "$G/broken"
python - "$G/broken" <<'PY'
import sys
d = sys.argv[1]
path = f"{d}/workspaces/research.yml"
text = open(path).read().replace("tools: [fs.read, web.fetch]", "tools: [fs.read, shell.exec]")
open(path, "w").write(text + "\nowner: nobody\n")
PY
pda-lease policy lint "$G/broken" || true
pda-lease policy build examples/policy --out "$G/policy-v1.json"

say "21. sign the policy, trust the policy key, stage and activate the bundle"
gov init --issuer-key "$G/keys/issuer.seed" --policy "$G/initial-policy.json" --trust "$work/trust-9.json" >/dev/null
pda-lease policy sign "$G/policy-v1.json" --key "$G/keys/policy.seed" --out "$G/policy-v1.bundle"
gov policy trust "$G/keys/policy.pub"
gov policy stage "$G/policy-v1.bundle" >/dev/null
gov policy activate

python - "$work" "$G" <<'PY'
import json, sys
work, G = sys.argv[1], sys.argv[2]
manifest = json.load(open(f"{work}/manifest.json"))
manifest["task_id"] = "task-governed-1"
json.dump(manifest, open(f"{G}/manifest.json", "w"), indent=2)
PY
request() {  # $1 principal, $2 workspace, then --model/--tool options -> request.json
  local who=$1 where=$2; shift 2
  pda-lease request-sign --key "$G/keys/$who.seed" --manifest "$G/manifest.json" --workspace "$where" "$@" > "$G/request.json"
}

say "22. who asks, for what: alice (research analyst) is granted; ci-bot and a wrong workspace are denied"
request alice research --model local-small --tool fs.read
gov acquire "$G/manifest.json" --request "$G/request.json" > "$G/grant-v1.json"
python -c 'import json,sys; d=json.load(open(sys.argv[1])); print(json.dumps({"decision": d["decision"], "governance": d["claims"]["governance"]}, indent=2))' "$G/grant-v1.json"
printf -- '-- ci-bot asks for a model its role does not have:\n'
request ci-bot research --model local-small --tool fs.read
gov acquire "$G/manifest.json" --request "$G/request.json" || true
printf -- '-- alice asks in a workspace where her role has no web tools:\n'
request alice ops --tool web.fetch
gov acquire "$G/manifest.json" --request "$G/request.json" || true
printf -- '-- a request that names a role instead of being signed is not even well formed:\n'
echo '{"principal": "alice", "role": "admin"}' > "$G/bearer.json"
gov acquire "$G/manifest.json" --request "$G/bearer.json" || true

say "23. approvals: web.fetch is in the network category, which needs 2 of 2 reviewers (bob, carol)"
request alice research --model local-small --tool fs.read --tool web.fetch
gov acquire "$G/manifest.json" --request "$G/request.json" || true
digest=$(pda-lease digest "$G/manifest.json")
printf -- '-- the refusal opened a review; the queue, durable in the state directory:\n'
gov approvals list
printf -- '-- bob approves; with 1 of the 2 required approvals alice is still refused:\n'
gov approvals approve "$digest" --key "$G/keys/bob.seed" >/dev/null
gov acquire "$G/manifest.json" --request "$G/request.json" || true
printf -- '-- alice cannot approve her own request (she is not a reviewer):\n'
gov approvals approve "$digest" --key "$G/keys/alice.seed" 2>&1 || true
printf -- '-- carol approves; alice asks again, passing no approvals herself:\n'
gov approvals approve "$digest" --key "$G/keys/carol.seed" >/dev/null
gov approvals list
gov acquire "$G/manifest.json" --request "$G/request.json" > "$G/grant-reviewed.json"
python -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["decision"], "approvals digest", d["claims"]["governance"]["approvals"])' "$G/grant-reviewed.json"

say "24. a policy upgrade: version 2 drops web.fetch for analysts; leases of version 1 end; no rollback"
cp -r examples/policy "$G/v2"
sed -i 's/^version: 1$/version: 2/' "$G/v2/org.yml"
sed -i 's/tools: \[fs.read, web.fetch\]/tools: [fs.read]/' "$G/v2/workspaces/research.yml"
pda-lease policy build "$G/v2" --out "$G/policy-v2.json"
pda-lease policy sign "$G/policy-v2.json" --key "$G/keys/policy.seed" --out "$G/policy-v2.bundle"
gov policy stage "$G/policy-v2.bundle" >/dev/null
gov policy activate
gov status --json | python -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps(d["counts"]))' || true
printf -- '-- the version 1 bundle, correctly signed, staged again:\n'
gov policy stage "$G/policy-v1.bundle" 2>&1 || true

say "25. replay the governed log: every decision re-run under the policy active when it was made"
pda-lease replay --quiet "$G/state/audit.jsonl"

# ------------------------------------------------------------------------------------------
# Pools (spec §14): concurrency, rate, context, compute and daily spend; release and
# settlement with signed receipts; tool sub-leases; cooldown, circuit breaker and clamp.
# ------------------------------------------------------------------------------------------
say "26. pools: policy version 3 adds pools and safety rules to org.yml; sign, stage, activate"
cp -r "$G/v2" "$G/v3"
sed -i 's/^version: 2$/version: 3/' "$G/v3/org.yml"
cat >> "$G/v3/org.yml" <<'YML'
pools:
  rate_window_ns: 60_000_000_000                     # requests and units per minute
  org: {concurrency: 6, requests: 5, units: 5000, context_tokens: 8000, compute: 8, spend_cents: 400}
  workspaces:
    research: {concurrency: 2, spend_cents: 300}     # 3.00 per day
  principals:
    dave: {compute: 2}
  safety:
    cooldown: {denials: 3, window_ns: 60_000_000_000, cooldown_ns: 30_000_000_000}
    breaker: {denials: 5, window_ns: 60_000_000_000, open_ns: 60_000_000_000}
    clamp: {spend_cents: 250, window_ns: 3_600_000_000_000, lease_ns: 10_000_000_000}
YML
pda-lease policy lint "$G/v3"
pda-lease policy build "$G/v3" --out "$G/policy-v3.json"
pda-lease policy sign "$G/policy-v3.json" --key "$G/keys/policy.seed" --out "$G/policy-v3.bundle"
gov policy stage "$G/policy-v3.bundle" >/dev/null
gov policy activate

ask() {  # $1 task name, $2 principal, $3 workspace, then request-sign options; prints the outcome
  local name=$1 who=$2 where=$3; shift 3
  python - "$G" "$name" <<'PY'
import json, sys
G, name = sys.argv[1], sys.argv[2]
manifest = json.load(open(f"{G}/manifest.json"))
manifest["task_id"] = f"task-{name}"
json.dump(manifest, open(f"{G}/m-{name}.json", "w"), indent=2)
PY
  pda-lease request-sign --key "$G/keys/$who.seed" --manifest "$G/m-$name.json" \
    --workspace "$where" "$@" > "$G/r-$name.json"
  gov acquire "$G/m-$name.json" --request "$G/r-$name.json" > "$G/d-$name.json" || true
  python - "$G/d-$name.json" "$name" "$who" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
if d["decision"] == "GRANT":
    clamp = "  CLAMPED: expires 10 s after the grant" if d.get("clamped") else ""
    print(f"{sys.argv[3]:>6} {sys.argv[2]:<4} GRANT lease {d['lease_id']}{clamp}")
else:
    print(f"{sys.argv[3]:>6} {sys.argv[2]:<4} DENY  {d['code']}/{d['reason']} at {d['field']}; "
          f"retry {json.dumps(d.get('retry'))}")
PY
}
proof_for() {  # $1 lease id -> a fresh holder proof (JSON) by the demo manifest's holder
  pda-lease holder-prove --key "$work/holder.seed" --lease-id "$1" \
    --challenge "$(python -c 'import os; print(os.urandom(32).hex())')"
}
release() {  # $1 task name, $2 units, $3 spend cents -> release.json (a signed receipt)
  local lease; lease=$(json lease_id < "$G/d-$1.json")
  python - "$lease" "$2" "$3" "$(proof_for "$lease")" > "$G/release-$1.json" <<'PY'
import json, sys
print(json.dumps({"lease_id": sys.argv[1], "usage": {"units": int(sys.argv[2]),
      "spend_cents": int(sys.argv[3])}, "holder_proof": json.loads(sys.argv[4])}))
PY
  gov release "$G/release-$1.json" > "$G/receipt-$1.json"
  python -c 'import json,sys; d=json.load(open(sys.argv[1]))["receipt"]; print("released", d["lease_id"], "reserved", d["reserved"], "settled", d["settled"], "overrun", d["overrun"], "audit entry", d["audit_seq"])' "$G/receipt-$1.json"
}
A=(--model local-small --tool fs.read --units 100 --compute 1 --spend-cents 50)

say "27. concurrency and context: research allows 2 leases in flight, the org 8000 context tokens"
ask a1 alice research "${A[@]}"
ask a2 alice research "${A[@]}"
ask a3 alice research "${A[@]}"
ask ctx alice research --model local-small --tool fs.read --context-tokens 9000

say "28. release: settle what a lease really used; the signed receipt verifies offline"
release a1 80 20
pda-lease receipt verify-release "$G/receipt-a1.json" --issuer-key "$(gov audit checkpoint --vkey-only)"
printf -- '-- the same release document again (its holder proof is used up), then with a fresh proof:\n'
gov release "$G/release-a1.json" || true
python - "$(json lease_id < "$G/d-a1.json")" "$(proof_for "$(json lease_id < "$G/d-a1.json")")" > "$G/again.json" <<'PY'
import json, sys
print(json.dumps({"lease_id": sys.argv[1], "usage": {"units": 0, "spend_cents": 0},
                  "holder_proof": json.loads(sys.argv[2])}))
PY
gov release "$G/again.json" || true

say "29. compute, units, spend: each pool at its own scope, with the recommendation"
ask d1 dave research --model local-small --tool fs.read --compute 3
ask u1 alice research "${A[@]:0:4}" --units 6000
ask s1 alice research "${A[@]:0:4}" --spend-cents 300
ask s2 alice research "${A[@]:0:4}" --spend-cents 200
release s2 0 200
printf -- '-- research spent 2.70 within the hour (>= 2.50): the next grant is clamped\n'
ask c1 alice research "${A[@]:0:4}" --spend-cents 1
printf -- '-- five grants within a minute fill the org'"'"'s request rate:\n'
ask e1 erin ops --tool fs.read --spend-cents 5
ask e2 erin ops --tool fs.read --spend-cents 5

say "30. a tool sub-lease: one call of fs.read, chained to alice's lease; it ends with its parent"
lease=$(json lease_id < "$G/d-a2.json")
python - "$(json token < "$G/d-a2.json")" "$(proof_for "$lease")" > "$G/sub.json" <<'PY'
import json, sys
print(json.dumps({"parent_token": sys.argv[1], "holder_proof": json.loads(sys.argv[2]),
                  "tool": "fs.read", "calls": 1, "ttl_ns": 30_000_000_000}))
PY
gov sublease "$G/sub.json" > "$G/child.json"
python -c 'import json,sys; d=json.load(open(sys.argv[1])); print("child", d["lease_id"], "parent", d["claims"]["parent"], "tools", d["claims"]["governance"]["tools"])' "$G/child.json"
child_request() {
  local child; child=$(json lease_id < "$G/child.json")
  python - "$(json token < "$G/child.json")" "$(proof_for "$child")" "$G/m-a2.json" <<'PY'
import json, sys
print(json.dumps({"token": sys.argv[1], "holder_proof": json.loads(sys.argv[2]),
                  "manifest": json.load(open(sys.argv[3]))}))
PY
}
child_request > "$G/child-auth.json"; gov authorize "$G/child-auth.json"
printf -- '-- its one call is used:\n'
child_request > "$G/child-auth.json"; gov authorize "$G/child-auth.json" || true

say "31. safety: repeated denials cool a principal down; a burst of policy denials opens a workspace's breaker"
for n in 1 2 3; do ask "w$n" alice research --model local-small --tool web.fetch; done
ask cool alice research "${A[@]}"
for n in 4 5; do ask "w$n" dave research --model local-small --tool web.fetch; done
ask open dave research --model local-small --tool fs.read

say "32. the pools now, and the daily report (JSON, CSV and a PNG chart) from the audit log"
gov pools | python -c 'import json,sys; d=json.load(sys.stdin); [print(s["scope"][:40], {k: (v["used"], v["limit"]) for k, v in s["pools"].items()}) for s in d["scopes"]]'
gov report daily --format text --png "$G/daily.png"
gov report daily --format csv | head -8
python -c 'import sys; data=open(sys.argv[1],"rb").read(); print("daily.png:", len(data), "bytes, PNG signature", data[:8] == b"\x89PNG\r\n\x1a\n")' "$G/daily.png"

say "33. replay the pooled log: every decision re-run with the usage snapshot it was judged on"
pda-lease replay --quiet "$G/state/audit.jsonl"

say "34. a governed model call from Python: acquire, authorize, run, always release (examples/governed_call.py)"
python examples/governed_call.py
