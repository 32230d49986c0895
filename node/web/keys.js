// A partner's keystore, opened and made in the browser: the same 148-byte format as
// `mutual keystore` (node/src/keystore.rs). The key encryption key is Argon2id over the
// passphrase; the seed is sealed with XChaCha20-Poly1305 with the 100-byte header as
// associated data. Signing is Ed25519 by the browser's WebCrypto. Nothing here is sent
// anywhere: the page hands the node only signed events.

import { argon2idAsync } from "./vendor/noble-hashes-2.4.0/argon2.js";
import { xchacha20poly1305 } from "./vendor/noble-ciphers-2.4.0/chacha.js";
import { concat, equalBytes, hex } from "./wire.js";

export const MAGIC = new TextEncoder().encode("mutual-keystore1");
export const KEYSTORE_LEN = 148;
const HEADER_LEN = 100;
// The costs of new keystores and the most a keystore may ask for, as keystore.rs has them.
export const MEMORY_KIB = 19 * 1024;
export const PASSES = 2;
export const MAX_MEMORY_KIB = 256 * 1024;
export const MAX_PASSES = 16;
export const MIN_PASSPHRASE_CHARS = 8;
// Ed25519 signatures over an event are over this domain followed by its bytes.
export const EVENT_DOMAIN = new TextEncoder().encode("mutual/v1/event\0");
// A PKCS #8 wrapping of an Ed25519 seed (RFC 8410): this prefix, then the 32 bytes.
const PKCS8_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);

const u32 = (b, at) => new DataView(b.buffer, b.byteOffset + at, 4).getUint32(0, false);

// Reads a keystore's clear part; throws, in words, if it is not one.
export function parseKeystore(bytes) {
  if (bytes.length < MAGIC.length || !equalBytes(bytes.subarray(0, 16), MAGIC)) {
    throw new Error("This file is not a Mutual keystore (it lacks the mutual-keystore1 header).");
  }
  if (bytes.length !== KEYSTORE_LEN) {
    throw new Error(`This file is not a Mutual keystore (a keystore is ${KEYSTORE_LEN} bytes).`);
  }
  const ks = {
    bytes,
    memory: u32(bytes, 16),
    passes: u32(bytes, 20),
    lanes: u32(bytes, 24),
    salt: bytes.subarray(28, 44),
    nonce: bytes.subarray(44, 68),
    publicKey: bytes.subarray(68, 100),
  };
  if (ks.memory < 8 || ks.memory > MAX_MEMORY_KIB || ks.passes > MAX_PASSES || ks.passes < 1 || ks.lanes !== 1) {
    throw new Error("This keystore asks for key derivation costs out of range.");
  }
  return ks;
}

async function kek(passphrase, ks) {
  return argon2idAsync(new TextEncoder().encode(passphrase), ks.salt, {
    t: ks.passes,
    m: ks.memory,
    p: ks.lanes,
    dkLen: 32,
    version: 0x13,
  });
}

// Imports a seed as a signing key that cannot be read back, and checks it is the key
// `publicKey` names by signing a random challenge and verifying it with that key.
async function importSeed(seed, publicKey) {
  const signing = await crypto.subtle.importKey(
    "pkcs8",
    concat(PKCS8_PREFIX, seed),
    { name: "Ed25519" },
    false,
    ["sign"],
  );
  const verifying = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, [
    "verify",
  ]);
  const challenge = crypto.getRandomValues(new Uint8Array(32));
  const sig = await crypto.subtle.sign({ name: "Ed25519" }, signing, challenge);
  if (!(await crypto.subtle.verify({ name: "Ed25519" }, verifying, sig, challenge))) {
    throw new Error("This keystore's key does not match the public key it names.");
  }
  return signing;
}

// Opens a keystore with its passphrase: { publicKey (hex), signing (CryptoKey) }.
// A wrong passphrase throws and nothing is kept.
export async function openKeystore(bytes, passphrase) {
  const ks = parseKeystore(bytes);
  const key = await kek(passphrase, ks);
  let seed;
  try {
    seed = xchacha20poly1305(key, ks.nonce, bytes.subarray(0, HEADER_LEN)).decrypt(
      bytes.subarray(HEADER_LEN),
    );
  } catch {
    throw new Error("Wrong passphrase for this keystore (or the file is damaged). Nothing was signed.");
  } finally {
    key.fill(0);
  }
  try {
    return { publicKey: hex(ks.publicKey), signing: await importSeed(seed, ks.publicKey) };
  } finally {
    seed.fill(0);
  }
}

// Makes a new keystore sealed with `passphrase`: { bytes, publicKey (hex) }.
export async function createKeystore(passphrase) {
  if ([...passphrase].length < MIN_PASSPHRASE_CHARS) {
    throw new Error(`A passphrase needs at least ${MIN_PASSPHRASE_CHARS} characters.`);
  }
  // A new key made by the browser, exported once to be sealed; its public half named in
  // the clear part.
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]);
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  if (pkcs8.length !== PKCS8_PREFIX.length + 32 || !equalBytes(pkcs8.subarray(0, 16), PKCS8_PREFIX)) {
    throw new Error("This browser wrapped its Ed25519 key in an unexpected way.");
  }
  const seed = pkcs8.slice(16);
  pkcs8.fill(0);
  const publicKey = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  await importSeed(seed, publicKey);
  const b = new Uint8Array(KEYSTORE_LEN);
  b.set(MAGIC, 0);
  const view = new DataView(b.buffer);
  view.setUint32(16, MEMORY_KIB, false);
  view.setUint32(20, PASSES, false);
  view.setUint32(24, 1, false);
  crypto.getRandomValues(b.subarray(28, 68));
  b.set(publicKey, 68);
  const ks = parseKeystore(b);
  const key = await kek(passphrase, ks);
  const sealed = xchacha20poly1305(key, ks.nonce, b.subarray(0, HEADER_LEN)).encrypt(seed);
  key.fill(0);
  seed.fill(0);
  b.set(sealed, HEADER_LEN);
  return { bytes: b, publicKey: hex(publicKey) };
}

// Signs an event's bytes as the protocol signs them.
export async function signEvent(signing, eventBytes) {
  const sig = await crypto.subtle.sign({ name: "Ed25519" }, signing, concat(EVENT_DOMAIN, eventBytes));
  return new Uint8Array(sig);
}
