#!/usr/bin/env bash
# make_test_ca.sh DIR - throw-away TLS material for tests, made with the openssl CLI:
#   DIR/ca.pem, DIR/ca.key          a test CA
#   DIR/server.pem, DIR/server.key  a server certificate signed by it, for localhost and
#                                   127.0.0.1 (subjectAltName: DNS:localhost, IP:127.0.0.1,
#                                   IP:::1), serverAuth
#   DIR/server-chain.pem            server.pem followed by ca.pem
#   DIR/other-ca.pem, other-ca.key  a second CA that signed nothing here (the wrong-CA test)
# EC P-256 keys, valid for 2 days from now.
set -euo pipefail
dir=${1:?usage: make_test_ca.sh DIR}
mkdir -p "$dir"
cd "$dir"
command -v openssl > /dev/null || { echo "make_test_ca.sh: openssl not found" >&2; exit 1; }
log=$(mktemp)
trap 'rm -f "$log" server.csr ext.cnf ca.srl' EXIT
run() { "$@" > "$log" 2>&1 || { cat "$log" >&2; echo "make_test_ca.sh: failed: $*" >&2; exit 1; }; }

newkey() { run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

make_ca() { # NAME SUBJECT
  newkey "$1.key"
  run openssl req -x509 -new -key "$1.key" -sha256 -days 2 -subj "$2" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" -out "$1.pem"
}

make_ca ca "/CN=hubcap test CA"
make_ca other-ca "/CN=hubcap unrelated test CA"

newkey server.key
run openssl req -new -key server.key -subj "/CN=localhost" -out server.csr
cat > ext.cnf <<'EOF'
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
run openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -sha256 -days 2 \
  -extfile ext.cnf -out server.pem
cat server.pem ca.pem > server-chain.pem
chmod 600 ./*.key
run openssl verify -CAfile ca.pem server.pem
if openssl verify -CAfile other-ca.pem server.pem > /dev/null 2>&1; then
  echo "make_test_ca.sh: the unrelated CA verifies the server certificate" >&2
  exit 1
fi
