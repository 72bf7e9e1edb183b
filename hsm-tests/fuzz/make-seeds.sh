#!/bin/bash
# make-seeds.sh: regenerates the seed corpora in hsm-tests/fuzz/corpus/ from
# the project's own fixtures (softhsm-fixtures/make-pki.sh, make-tpm-keys.sh)
# and hsm-tests/vectors/. The results are committed; run this only to
# refresh them. Fuzzing adds to the corpora; see `make fuzz`.
set -eu
cd "$(dirname "$0")/../.."
C=hsm-tests/fuzz/corpus
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
bash softhsm-fixtures/make-pki.sh "$T/pki" >"$T/pki.log" 2>&1
bash softhsm-fixtures/make-tpm-keys.sh "$T/tpm" "$T/pki" >"$T/tpm.log" 2>&1 ||
	echo "make-tpm-keys.sh failed: no TPM seeds" >&2
P=$T/pki
# seed TARGET NAME [PREFIX-BYTE-AS-PRINTF]: stdin to corpus/TARGET/NAME.
seed() {
	mkdir -p "$C/$1"
	{ [ $# -lt 3 ] || printf "$3"; cat; } >"$C/$1/$2"
}

# creds: CreateSession answers and error bodies (hsm-tests/endpoint's forms).
seed creds ok <<'E'
{"credentialSet":[{"assumedRoleUser":{"arn":"arn:aws:sts::123456789012:assumed-role/r/s","assumedRoleId":"AROA:s"},"credentials":{"accessKeyId":"ASIAEXAMPLE","expiration":"2026-12-03T12:00:00Z","secretAccessKey":"secret/key+x","sessionToken":"FwoGZXIvYXdzEO'x"},"packedPolicySize":0,"roleArn":"arn:aws:iam::123456789012:role/r","sourceIdentity":"CN=leaf"}],"subjectArn":"arn:aws:rolesanywhere:us-east-1:123456789012:subject/x"}
E
printf '{"credentialSet":[],"subjectArn":"x"}' | seed creds empty-set
printf '{"message":"Untrusted signing certificate"}' | seed creds err-untrusted
printf '{"__type":"com.amazon#ValidationException","Message":"bad duration"}' | seed creds err-type
printf '{"code":"ResourceNotFoundException","message":"no such profile"}' | seed creds err-code
printf '{"credentialSet":[{"credentials":{"accessKeyId":"A","secretAccessKey":"S","sessionToken":"T","expiration":"2026-12-03T12:00:00.123+00:00"}}]}' | seed creds frac

# cache: entries as cache_put writes them.
printf '{"Version":1,"AccessKeyId":"ASIAEXAMPLE","SecretAccessKey":"s/k+x","SessionToken":"FwoG","Expiration":"2026-12-03T12:00:00Z"}' | seed cache entry
printf '{"Version":1,"AccessKeyId":"A","SecretAccessKey":"S","SessionToken":"T","Expiration":"2026-12-03T12:00:00.5Z"}' | seed cache frac
printf '{"AccessKeyId":"A","SecretAccessKey":""}' | seed cache partial

# credfile: profile line, then a credentials file.
printf 'default\n' | seed credfile empty
printf 'default\n[default]\naws_access_key_id = OLD\naws_secret_access_key = OLD\naws_session_token = OLD\n\n[other]\naws_access_key_id = KEEP\nregion = eu-west-1\n' | seed credfile two
printf 'prod\r\n[dev]\r\naws_access_key_id=X\r\n[prod]\r\n; comment\r\naws_session_token_x = keep\r\naws_access_key_id: old\r\n  continued\r\n[prod]\r\nregion = x' | seed credfile crlf
printf 'a]b\n[a]b]\naws_secret_access_key=1\n[a]b]' | seed credfile odd-name

# arn: trust anchor, profile, role, region, endpoint, session name, duration.
python3 - "$C" <<'PY'
import glob, json, os, sys
out = os.path.join(sys.argv[1], "arn")
os.makedirs(out, exist_ok=True)
for f in sorted(glob.glob("hsm-tests/vectors/*.json")):
    i = json.load(open(f))["inputs"]
    fields = [i["trust_anchor_arn"], i["profile_arn"], i["role_arn"],
              i.get("region") or "", i.get("endpoint") or "",
              i.get("role_session_name") or "", str(i["session_duration"])]
    name = os.path.basename(f)[:-5]
    open(os.path.join(out, name), "w").write("\n".join(fields))
PY
printf 'arn:aws-cn:rolesanywhere:cn-north-1:1:trust-anchor/t\narn:aws-cn:rolesanywhere:cn-north-1:1:profile/p\narn:aws-cn:iam::1:role/r\n\n\nsess.name@x\n900\nfips' | seed arn cn-fips
printf 'arn:aws:rolesanywhere:us-east-1:1:trust-anchor/t\narn:aws:rolesanywhere:us-east-1:1:profile/p\narn:aws:iam::1:role/r\nus-west-2\nhttp://127.0.0.1:8080/prefix/\n' | seed arn local

# selector: string (first byte even) and JSON file (odd) forms.
printf 'Key=x509Subject,Value=CN=leaf,O=Example\\, Inc.,C=US Key=x509Serial,Value=1234' | seed selector string '\x00'
printf 'Key=x509Issuer,Value=CN=inter-ca,O=rasign tests' | seed selector issuer '\x00'
printf '[{"Key":"x509Subject","Value":"CN=leaf,O=Example\\\\, Inc.,C=US"},{"key":"x509Serial","value":"1234"}]' | seed selector json '\x01'

# uri_pin and options.
printf 'pkcs11:token=rasign;object=leaf?pin-value=1234' | seed uri_pin plain
printf 'pkcs11:token=t?module-path=/usr/lib/x.so&pin-value=%%31%%32x&pin-source=f' | seed uri_pin encoded
printf 'pkcs11:token=t;pin-value=1' | seed uri_pin in-path
printf -- '--certificate\npkcs11:token=t;object=c?pin-value=1234\n--private-key=pkcs11:token=t?pin-value=9\n--trust-anchor-arn=a\n--profile-arn\np\n--role-arn=r\n--session-duration=900\n--debug\n--cache\n--output=env' | seed options credential-process '\x00'
printf -- '--port=0\n--hop-limit=2\n--refresh-before=60\n--pkcs8-password=pass:x\n--bind=127.0.0.1\n--prof' | seed options serve '\x01'
printf -- '--profile\nx\n--once=false\n--tpm-key-password\nenv:X\n--no-tpm-key-password' | seed options update '\x02'
printf -- '--format=json\n--digest=SHA256\n--reuse-pin\n--cert-selector=Key=x509Serial,Value=1\n--help' | seed options sign-string '\x03'
printf -- '--pkcs11-lib=/x.so\n--pkcs11-pin=1\nextra' | seed options read-cert '\x04'
printf -- '--certificate=c\n--\nsh\n-c\nexit' | seed options exec '\x05'

# secret: first byte picks pass:, env:, literal, fd:, file:.
printf 'test-password' | seed secret pass '\x00'
printf 'tpm-key-pw' | seed secret env '\x01'
printf 'pass:literal' | seed secret literal '\x02'
printf 'line one\r\nline two' | seed secret fd '\x03'
seed secret file '\x04' <"$P/password.txt"

# keyfile: every key form the fixtures make, plus the vectors' keys.
for f in "$P"/*.p8.pem "$P"/*.enc-*.pem "$P"/*.enc-*.der "$P"/*.p12 \
	"$P"/*.combo.pem "$P"/*.key "$P"/*.der; do
	[ -f "$f" ] || continue
	case $f in *scrypt*) continue ;; esac
	seed keyfile "$(basename "$f")" <"$f"
done
# Cheap encrypted forms (iteration count 1) so the fuzzer gets past the KDF.
openssl pkcs8 -topk8 -in "$P/leaf-ec-p256.p8.pem" -passout pass:test-password \
	-v2 aes-128-cbc -iter 1 -outform DER | seed keyfile ec-enc-iter1.der
openssl pkcs8 -topk8 -in "$P/leaf-ec-p256.p8.pem" -passout pass:test-password \
	-v2 aes-256-cbc -iter 1 | seed keyfile ec-enc-iter1.pem
openssl ec -in "$P/leaf-ec-p256.p8.pem" 2>/dev/null | seed keyfile ec-sec1.pem
openssl ec -in "$P/leaf-ec-p256.p8.pem" -outform DER 2>/dev/null | seed keyfile ec-sec1.der
openssl ec -in "$P/leaf-ec-p256.p8.pem" -aes128 -passout pass:test-password 2>/dev/null |
	seed keyfile ec-sec1-legacy-enc.pem
openssl pkcs12 -export -inkey "$P/leaf-ec-p256.p8.pem" -in "$P/leaf-ec-p256.crt" \
	-passout pass:test-password -noiter -nomaciter | seed keyfile ec-iter1.p12
openssl pkcs12 -export -inkey "$P/leaf-ec-p256.p8.pem" -in "$P/leaf-ec-p256.crt" \
	-certfile "$P/inter-ca.crt" -passout pass: -noiter -nomaciter |
	seed keyfile ec-chain-nopass.p12
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:512 2>/dev/null |
	openssl rsa -traditional 2>/dev/null | seed keyfile rsa512-pkcs1.pem
openssl genpkey -algorithm ED25519 | seed keyfile ed25519.pem

# x509: certificates (first byte even) and bundles (odd).
for f in "$P"/*.crt; do
	seed x509 "$(basename "$f")" '\x00' <"$f"
done
openssl x509 -in "$P/leaf-ec-p256.crt" -outform DER | seed x509 leaf.der '\x00'
for f in "$P"/intermediates.pem "$P"/chain-inter-root.pem "$P"/*.combo.pem; do
	seed x509 "bundle-$(basename "$f")" '\x01' <"$f"
done
for f in hsm-tests/vectors/*.json; do
	python3 -c 'import json,sys; i=json.load(open(sys.argv[1]))["inputs"]; sys.stdout.write(i["certificate_pem"])' "$f" |
		seed x509 "vector-$(basename "$f" .json).pem" '\x00'
done

# tpm2key: TSS2 PRIVATE KEY files (first byte even) and their TPM2B_PUBLIC.
for f in "$T"/tpm/*.pem; do
	[ -f "$f" ] || continue
	grep -q 'TSS2 PRIVATE KEY' "$f" || continue
	seed tpm2key "$(basename "$f")" '\x00' <"$f"
	# Its pubkey OCTET STRING (a TPM2B_PUBLIC) as a seed of its own.
	python3 - "$f" <<'PY' | seed tpm2key "$(basename "$f" .pem).pub" '\x01'
import base64, sys
der = base64.b64decode("".join(l for l in open(sys.argv[1]).read().splitlines()
                               if not l.startswith("-----")))
def tlv(d, i):
    tag, n, i = d[i], d[i + 1], i + 2
    if n & 0x80:
        k = n & 0x7f
        n, i = int.from_bytes(d[i:i + k], "big"), i + k
    return tag, d[i:i + n], i + n
_, seq, _ = tlv(der, 0)
i = 0
while i < len(seq):
    tag, val, i = tlv(seq, i)
    if tag == 0x04:
        sys.stdout.buffer.write(val)
        break
PY
done
echo "seeds: $(find "$C" -type f | wc -l) files in $C"

# svid: X509SVIDResponse messages (first byte: even, the first SVID; odd,
# spiffe://example.org/second), made with the standard's workload.proto.
svid_seeds() {
	local g=$T/svid
	mkdir -p "$g"
	openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null |
		openssl pkey -outform DER -out "$g/k1.der"
	openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null |
		openssl pkey -outform DER -out "$g/k2.der"
	for n in 1 2; do
		openssl req -new -x509 -days 2 -key "$g/k$n.der" -keyform DER \
			-subj "/O=SPIFFE" -addext "subjectAltName=URI:spiffe://example.org/w$n" \
			-outform DER -out "$g/c$n.der" 2>/dev/null
	done
	openssl x509 -in "$P/inter-ca.crt" -outform DER -out "$g/inter.der"
	/usr/bin/python3 - "$g" hsm-tests/fuzz/corpus/svid <<'PY'
import os, sys
from grpc_tools import protoc
import grpc_tools
g, out = sys.argv[1:]
inc = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
assert protoc.main(["protoc", "-Iproto/spiffe/workload", "-I" + inc,
                    "--python_out=" + g, "workload.proto"]) == 0
sys.path.insert(0, g)
import workload_pb2 as pb
r = lambda n: open(os.path.join(g, n), "rb").read()
one = pb.X509SVID(spiffe_id="spiffe://example.org/workload",
                  x509_svid=r("c1.der") + r("inter.der"), x509_svid_key=r("k1.der"))
two = pb.X509SVID(spiffe_id="spiffe://example.org/second",
                  x509_svid=r("c2.der"), x509_svid_key=r("k2.der"), hint="external")
nokey = pb.X509SVID(spiffe_id="spiffe://example.org/nokey", x509_svid=r("c1.der"))
os.makedirs(out, exist_ok=True)
def seed(name, first, msg):
    open(os.path.join(out, name), "wb").write(bytes([first]) + msg.SerializeToString())
seed("one", 0, pb.X509SVIDResponse(svids=[one]))
seed("two-first", 0, pb.X509SVIDResponse(svids=[one, two], crl=[b"\x30\x00"]))
seed("two-second", 1, pb.X509SVIDResponse(svids=[one, two],
                                          federated_bundles={"spiffe://other.org": r("inter.der")}))
seed("second-missing", 1, pb.X509SVIDResponse(svids=[one]))
seed("empty", 0, pb.X509SVIDResponse())
seed("no-key", 0, pb.X509SVIDResponse(svids=[nokey]))
PY
}
svid_seeds
