// A self-signed TLS certificate for the local quick start, made with Node's crypto alone
// (openssl is not on every machine): an ECDSA P-256 key and an X.509 v3 certificate for
// localhost, 127.0.0.1 and ::1, DER-encoded by hand (Node can parse certificates, not make them).
// It is its own CA, so a user who wants verified TLS can trust it (e.g. NODE_EXTRA_CA_CERTS,
// the action's `ca` input, docker's certs.d).

import { X509Certificate, createPrivateKey, generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const VALID_DAYS = 365;

// --- minimal DER encoder -----------------------------------------------------------------

function length(n) {
  if (n < 0x80) return Buffer.from([n]);
  const bytes = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const tlv = (tag, ...content) => {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
};
const sequence = (...items) => tlv(0x30, ...items);
const set = (...items) => tlv(0x31, ...items);
const explicit = (n, item) => tlv(0xa0 + n, item);
const octetString = (bytes) => tlv(0x04, bytes);
const bitString = (bytes) => tlv(0x03, Buffer.from([0]), bytes);
const utf8 = (text) => tlv(0x0c, Buffer.from(text, "utf8"));
const boolean = (value) => tlv(0x01, Buffer.from([value ? 0xff : 0]));
function integer(bytes) {
  const trimmed = bytes[0] & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes;
  return tlv(0x02, trimmed);
}
function oid(dotted) {
  const [a, b, ...rest] = dotted.split(".").map(Number);
  const out = [40 * a + b];
  for (const n of rest) {
    const base128 = [];
    for (let v = n; ; v = Math.floor(v / 128)) {
      base128.unshift((v % 128) | (base128.length ? 0x80 : 0));
      if (v < 128) break;
    }
    out.push(...base128);
  }
  return tlv(0x06, Buffer.from(out));
}
function utcTime(date) {
  const text = date.toISOString().replace(/[-:T]/g, "").slice(2, 14) + "Z"; // YYMMDDHHMMSSZ
  return tlv(0x17, Buffer.from(text, "ascii"));
}
const extension = (id, critical, value) => sequence(oid(id), ...(critical ? [boolean(true)] : []), octetString(value));

// --- the certificate ------------------------------------------------------------------------

/** A fresh key and self-signed certificate; returns PEM strings {key, cert}. */
export function makeSelfSignedCert({ commonName = "Berth local registry", days = VALID_DAYS, now = new Date() } = {}) {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const ecdsaWithSha256 = sequence(oid("1.2.840.10045.4.3.2"));
  const name = sequence(set(sequence(oid("2.5.4.3"), utf8(commonName))));
  const notBefore = new Date(now.getTime() - 60 * 60 * 1000); // an hour of clock skew
  const notAfter = new Date(now.getTime() + days * 24 * 60 * 60 * 1000);
  const serial = randomBytes(16);
  serial[0] &= 0x7f;
  const altNames = sequence(
    tlv(0x82, Buffer.from("localhost")),
    tlv(0x87, Buffer.from([127, 0, 0, 1])),
    tlv(0x87, Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])),
  );
  const extensions = sequence(
    extension("2.5.29.19", true, sequence(boolean(true))), // basicConstraints: CA (its own trust anchor)
    extension("2.5.29.15", true, bitString(Buffer.from([0x84]))), // keyUsage: digitalSignature, keyCertSign
    extension("2.5.29.37", false, sequence(oid("1.3.6.1.5.5.7.3.1"))), // extKeyUsage: serverAuth
    extension("2.5.29.17", false, altNames), // subjectAltName
  );
  const tbs = sequence(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(serial),
    ecdsaWithSha256,
    name,
    sequence(utcTime(notBefore), utcTime(notAfter)),
    name,
    publicKey.export({ type: "spki", format: "der" }),
    explicit(3, extensions),
  );
  const signature = sign("sha256", tbs, privateKey); // DER Ecdsa-Sig-Value, as X.509 wants
  const der = sequence(tbs, ecdsaWithSha256, bitString(signature));
  const cert = `-----BEGIN CERTIFICATE-----\n${der.toString("base64").match(/.{1,64}/g).join("\n")}\n-----END CERTIFICATE-----\n`;
  return { key: privateKey.export({ type: "pkcs8", format: "pem" }), cert };
}

/**
 * The certificate kept in `dir` (cert.pem, key.pem), made on first use and renewed when it
 * expires within a week, so clients that were told to trust it keep trusting it.
 */
export function localCert(dir) {
  const certPath = join(dir, "cert.pem");
  const keyPath = join(dir, "key.pem");
  if (existsSync(certPath) && existsSync(keyPath)) {
    try {
      const cert = readFileSync(certPath, "utf8");
      const key = readFileSync(keyPath, "utf8");
      const parsed = new X509Certificate(cert);
      const fresh = Date.parse(parsed.validTo) - Date.now() > 7 * 24 * 60 * 60 * 1000;
      if (fresh && parsed.checkPrivateKey(createPrivateKey(key))) return { key, cert, certPath, keyPath };
    } catch {
      // unreadable or not ours: make a new one
    }
  }
  mkdirSync(dir, { recursive: true });
  const made = makeSelfSignedCert();
  writeFileSync(keyPath, made.key, { mode: 0o600 });
  writeFileSync(certPath, made.cert);
  return { ...made, certPath, keyPath };
}
