package export

import (
	"crypto/ed25519"
	"fmt"

	"github.com/analogloop/analogloop/internal/atomicfile"
	"github.com/analogloop/analogloop/models"
)

// SignatureSuffix is appended to a manifest's path to name its signature.
const SignatureSuffix = ".sig"

// Sign imports the export at manifestPath (every check of Import) and, if
// it is sound, writes manifestPath + SignatureSuffix: the 64-byte ed25519
// signature (RFC 8032) of the manifest file's exact bytes with key. The
// manifest pins the .npz by its SHA-256, so the signature covers the
// weights too. Keep key private; give the public key to whoever imports.
func Sign(manifestPath string, key ed25519.PrivateKey) error {
	if len(key) != ed25519.PrivateKeySize {
		return &Error{Op: "sign", File: manifestPath, Msg: fmt.Sprintf("a private key of %d bytes: ed25519 keys have %d", len(key), ed25519.PrivateKeySize)}
	}
	raw, err := readRegular("sign", manifestPath, MaxManifestBytes, "")
	if err != nil {
		return err
	}
	if _, _, err := importManifest("sign", manifestPath, raw); err != nil {
		return err
	}
	sig := ed25519.Sign(key, raw)
	if err := atomicfile.Write(manifestPath+SignatureSuffix, sig); err != nil {
		return &Error{Op: "sign", File: manifestPath + SignatureSuffix, Err: err}
	}
	return nil
}

// ImportSigned is Import for an export whose author must be the holder of
// the private key of pub: it verifies manifestPath + SignatureSuffix
// against the manifest's bytes, then imports those very bytes. A
// signature that does not verify is ErrTampered.
func ImportSigned(manifestPath string, pub ed25519.PublicKey) (*models.Network, *Manifest, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, nil, &Error{Op: "import", File: manifestPath, Msg: fmt.Sprintf("a public key of %d bytes: ed25519 keys have %d", len(pub), ed25519.PublicKeySize)}
	}
	raw, err := readRegular("import", manifestPath, MaxManifestBytes, "")
	if err != nil {
		return nil, nil, err
	}
	sigPath := manifestPath + SignatureSuffix
	sig, err := readRegular("import", sigPath, 1<<10, "")
	if err != nil {
		return nil, nil, err
	}
	if len(sig) != ed25519.SignatureSize {
		return nil, nil, &Error{Op: "import", File: sigPath, Kind: ErrTampered,
			Msg: fmt.Sprintf("%d bytes: an ed25519 signature has %d", len(sig), ed25519.SignatureSize)}
	}
	if !ed25519.Verify(pub, raw, sig) {
		return nil, nil, &Error{Op: "import", File: sigPath, Kind: ErrTampered,
			Msg: "the signature does not verify with the given public key: the manifest changed after it was signed, or another key signed it"}
	}
	return importManifest("import", manifestPath, raw)
}
