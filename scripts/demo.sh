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
for name in ("issuer", "policy", "alice", "ci-bot", "bob", "carol"):
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
