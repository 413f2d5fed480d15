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
