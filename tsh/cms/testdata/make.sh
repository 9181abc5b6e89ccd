#!/bin/sh
# Regenerates the CMS EnvelopedData fixtures of tsh/cms (see README.md). Test keys only.
set -eu
cd "$(dirname "$0")"
for bits in 2048 4096; do
  openssl req -x509 -newkey rsa:$bits -nodes -keyout rsa$bits.key -out rsa$bits.crt \
    -days 36500 -subj "/CN=cardswitch tsh test $bits" 2>/dev/null
done
printf '%s' '{"fpan":"5351100000000018","exp":"1230","cvv":"123"}' > cardinfo.json
for bits in 2048 4096; do
  openssl cms -encrypt -binary -outform DER -aes256 -in cardinfo.json -recip rsa$bits.crt \
    -out pkcs1-rsa$bits.der
  openssl cms -encrypt -binary -outform DER -aes256 -in cardinfo.json -recip rsa$bits.crt \
    -keyopt rsa_padding_mode:oaep -keyopt rsa_oaep_md:sha256 -keyopt rsa_mgf1_md:sha256 \
    -out oaep-rsa$bits.der
done
# Refusals: another content algorithm, and OAEP with SHA-1 (not the contract's SHA-256).
openssl cms -encrypt -binary -outform DER -aes128 -in cardinfo.json -recip rsa2048.crt -out aes128-rsa2048.der
openssl cms -encrypt -binary -outform DER -aes256 -in cardinfo.json -recip rsa2048.crt \
  -keyopt rsa_padding_mode:oaep -keyopt rsa_oaep_md:sha1 -keyopt rsa_mgf1_md:sha1 -out oaep-sha1-rsa2048.der
