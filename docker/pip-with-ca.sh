#!/bin/sh
# pip for the image builds: when the build secret `extra_ca` is given (the CA of a TLS-intercepting proxy), pip
# trusts it on top of the system bundle for this one command; the combined bundle is deleted with the command, so
# the certificate never lands in a layer.
set -eu
extra=/run/secrets/extra_ca
if [ ! -s "$extra" ]; then
  exec pip "$@"
fi
bundle=$(mktemp)
trap 'rm -f "$bundle"' EXIT
cat "${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}" "$extra" > "$bundle"
PIP_CERT="$bundle" pip "$@"
