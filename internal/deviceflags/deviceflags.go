package deviceflags

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/calib"
	"github.com/analogloop/analogloop/internal/token"
	"github.com/analogloop/analogloop/remote"
)

// KindRemote is the -device of a chip reached over the network.
const KindRemote = "remote"

// Flags are the device flags of one command.
type Flags struct {
	Kind string // -device
	Chip uint64 // -chip

	// A remote device (-device remote).
	Remote        string        // -remote ADDR
	OtherRemote   string        // -other-remote ADDR (RegisterOther)
	TokenFile     string        // -token-file; "" reads $ANALOGLOOP_CHIP_TOKEN
	TLSCA         string        // -tls-ca: CA certificates (PEM); "" plaintext
	TLSServerName string        // -tls-server-name
	Wait          time.Duration // -remote-wait
	CallTimeout   time.Duration // -remote-timeout

	// A device built from a calibration file (package calib): with -device
	// twin the chip's digital twin; with any other device, that device
	// corrected on the host (digital calibration).
	Calibration      string // -calibration FILE
	CalibrateWeights bool   // -calibrate-weights: also correct each weight by its synapse factor

	local bool // RegisterLocal: no remote kind
}

// Register defines -device, -chip and the remote device's flags on fs with
// the given defaults.
func (f *Flags) Register(fs *flag.FlagSet, kind string, chip uint64) {
	f.Kind, f.Chip = kind, chip
	fs.StringVar(&f.Kind, "device", kind, "device: "+strings.Join(Kinds(), ", ")+" (remote: a chip served by cmd/chipd or another server of the chip protocol, at -remote)")
	fs.Uint64Var(&f.Chip, "chip", chip, "chip seed: which simulated chip (the same seed is always the same chip)")
	fs.StringVar(&f.Remote, "remote", "", "with -device remote: the chip server's host:port")
	fs.StringVar(&f.TokenFile, "token-file", "", "with -device remote: file holding the server's bearer token (default: $"+token.Env+")")
	fs.StringVar(&f.TLSCA, "tls-ca", "", "with -device remote: PEM file of the CA that signed the server's certificate (default: no TLS)")
	fs.StringVar(&f.TLSServerName, "tls-server-name", "", "with -tls-ca: the name in the server's certificate (default: the host of -remote)")
	fs.DurationVar(&f.Wait, "remote-wait", remote.DefaultWait, "with -device remote: how long to wait for an unreachable or busy server before giving up")
	fs.DurationVar(&f.CallTimeout, "remote-timeout", remote.DefaultCallTimeout, "with -device remote: deadline of one call to the server")
	f.registerCalibration(fs)
}

func (f *Flags) registerCalibration(fs *flag.FlagSet) {
	fs.StringVar(&f.Calibration, "calibration", "", "calibration file of the chip (cmd/study or calib.Characterize writes one): with -device twin the chip's digital twin, with another device that device corrected on the host (digital calibration)")
	fs.BoolVar(&f.CalibrateWeights, "calibrate-weights", false, "with -calibration: also divide each weight by its synapse's measured factor (needs a calibration with synapse factors)")
}

// RegisterOther defines -other-remote: the server of a second chip (a
// command's unseen chip).
func (f *Flags) RegisterOther(fs *flag.FlagSet) {
	fs.StringVar(&f.OtherRemote, "other-remote", "", "with -device remote: host:port of a server of a second chip, never trained on, for the unseen-chip evaluation (same token and TLS as -remote; without it that evaluation is skipped)")
}

// RegisterLocal defines only -device and -chip, for the local kinds: what
// a server (cmd/chipd) serves.
func (f *Flags) RegisterLocal(fs *flag.FlagSet, kind string, chip uint64) {
	f.Kind, f.Chip, f.local = kind, chip, true
	fs.StringVar(&f.Kind, "device", kind, "device: "+strings.Join(analogmac.Kinds(), ", "))
	fs.Uint64Var(&f.Chip, "chip", chip, "chip seed: which simulated chip (the same seed is always the same chip)")
	f.registerCalibration(fs)
}

// Kinds lists what -device accepts.
func Kinds() []string { return append(analogmac.Kinds(), calib.KindTwin, KindRemote) }

// localKinds lists what a server's -device accepts.
func localKinds() []string { return append(analogmac.Kinds(), calib.KindTwin) }

// Names reports the flags Register defines, for commands that check which
// flags apply.
func Names() []string {
	return append([]string{"device", "chip", "calibration", "calibrate-weights"}, RemoteNames()...)
}

// CalibrationNames reports the flags that name a calibration file: what a
// resumed run of a calibrated device or a twin must give again.
func CalibrationNames() []string { return []string{"calibration"} }

// RemoteNames reports the flags that say how to reach a server: what a
// resumed run may give again, since a server's address is not part of the
// run.
func RemoteNames() []string {
	return []string{"remote", "token-file", "tls-ca", "tls-server-name", "remote-wait", "remote-timeout"}
}

// IsRemote reports whether the flags name a remote device.
func (f *Flags) IsRemote() bool { return f.Kind == KindRemote }

// Check reports a flag value that cannot work, naming the flag.
func (f *Flags) Check() error {
	var errs []error
	if f.IsRemote() && !f.local {
		if f.Remote == "" {
			errs = append(errs, errors.New("-device remote: give the server's address with -remote HOST:PORT"))
		}
		if f.Wait <= 0 {
			errs = append(errs, fmt.Errorf("-remote-wait %v: want a positive duration", f.Wait))
		}
		if f.CallTimeout <= 0 {
			errs = append(errs, fmt.Errorf("-remote-timeout %v: want a positive duration", f.CallTimeout))
		}
		if _, err := token.Load(f.TokenFile); err != nil {
			errs = append(errs, fmt.Errorf("-token-file: %v", err))
		}
		if f.TLSCA != "" {
			if _, err := remote.TLSConfig(f.TLSCA, ""); err != nil {
				errs = append(errs, fmt.Errorf("-tls-ca: %v", err))
			}
		}
	} else {
		kinds := Kinds()
		if f.local {
			kinds = localKinds()
		}
		if f.Kind == calib.KindTwin {
			if f.Calibration == "" {
				errs = append(errs, errors.New("-device twin: give the chip's calibration file with -calibration FILE"))
			}
		} else if _, err := analogmac.Preset(f.Kind, f.Chip); err != nil {
			errs = append(errs, fmt.Errorf("-device %s: want one of %s", f.Kind, strings.Join(kinds, ", ")))
		}
		if f.Remote != "" || f.OtherRemote != "" {
			errs = append(errs, fmt.Errorf("-remote and -other-remote need -device remote (not %s)", f.Kind))
		}
	}
	if f.TLSServerName != "" && f.TLSCA == "" {
		errs = append(errs, errors.New("-tls-server-name needs -tls-ca"))
	}
	if f.Calibration != "" && f.OtherRemote != "" {
		errs = append(errs, errors.New("-other-remote with -calibration: a calibration belongs to one chip (cmd/study evaluates calibration on unseen chips, each with its own)"))
	}
	if f.CalibrateWeights && (f.Calibration == "" || f.Kind == calib.KindTwin) {
		errs = append(errs, errors.New("-calibrate-weights needs -calibration and a device to correct (not -device twin)"))
	}
	if f.Calibration != "" {
		if _, err := calib.Read(f.Calibration); err != nil {
			errs = append(errs, fmt.Errorf("-calibration: %v", err))
		}
	}
	return errors.Join(errs...)
}

// Calibrated reports whether the flags build the device from a
// calibration file (a twin, or a corrected device).
func (f *Flags) Calibrated() bool { return f.Calibration != "" }

// wrap builds what -calibration asks for around base (nil for a twin).
func (f *Flags) wrap(base analogmac.Device) (analogmac.Device, error) {
	if f.Calibration == "" {
		return base, nil
	}
	cal, err := calib.Read(f.Calibration)
	if err != nil {
		return nil, err
	}
	if base == nil {
		return calib.NewTwin(cal)
	}
	d, err := calib.NewCorrected(base, cal, calib.CorrectOptions{Weights: f.CalibrateWeights})
	if err != nil {
		base.Close()
		return nil, err
	}
	return d, nil
}

// Open opens the device the flags name. A remote device is dialled (log
// receives its reconnections; nil: slog.Default()), waiting up to
// -remote-wait for a server that is not up yet. With -calibration the
// device is corrected on the host, or with -device twin replaced by the
// twin.
func (f *Flags) Open(ctx context.Context, log *slog.Logger) (analogmac.Device, error) {
	if f.Kind == calib.KindTwin {
		return f.wrap(nil)
	}
	var base analogmac.Device
	var err error
	if f.IsRemote() {
		base, err = f.dial(ctx, f.Remote, log)
	} else {
		var s analogmac.Spec
		if s, err = analogmac.Preset(f.Kind, f.Chip); err == nil {
			base, err = analogmac.New(s)
		}
	}
	if err != nil {
		return nil, err
	}
	return f.wrap(base)
}

// OpenOther opens the device at -other-remote, with the token and TLS of
// -remote; nil without -other-remote.
func (f *Flags) OpenOther(ctx context.Context, log *slog.Logger) (analogmac.Device, error) {
	if f.OtherRemote == "" {
		return nil, nil
	}
	return f.dial(ctx, f.OtherRemote, log)
}

func (f *Flags) dial(ctx context.Context, addr string, log *slog.Logger) (analogmac.Device, error) {
	tok, err := token.Load(f.TokenFile)
	if err != nil {
		return nil, err
	}
	o := remote.Options{Addr: addr, Token: tok, Wait: f.Wait, CallTimeout: f.CallTimeout, Logger: log}
	if f.TLSCA != "" {
		if o.TLS, err = remote.TLSConfig(f.TLSCA, f.TLSServerName); err != nil {
			return nil, err
		}
	}
	return remote.Dial(ctx, o)
}

// OpenSpec opens a recorded device (a resumed run's): a simulated one is
// rebuilt from its Spec; one built from a calibration (a twin, a corrected
// chip) from the calibration file the flags name again (-calibration),
// which must be the one recorded. Any other kind (a real chip's) must be
// reached again: give -device remote -remote ADDR.
func (f *Flags) OpenSpec(s analogmac.Spec) (analogmac.Device, error) {
	if s.Calibration == "" {
		if !slices.Contains(analogmac.Kinds(), s.Kind) {
			return nil, fmt.Errorf("the run used %s, which is not simulated here: give its server again with -device remote -remote HOST:PORT", s)
		}
		return analogmac.New(s)
	}
	if f.Calibration == "" {
		return nil, fmt.Errorf("the run used %s, built from the calibration %s: give that file again with -calibration FILE", s, s.Calibration)
	}
	cal, err := calib.Read(f.Calibration)
	if err != nil {
		return nil, err
	}
	if d := cal.Digest(); d != s.Calibration {
		return nil, fmt.Errorf("-calibration %s is %s, the run used %s", f.Calibration, d, s.Calibration)
	}
	if s.Kind == calib.KindTwin {
		return calib.NewTwin(cal)
	}
	if s.Base == nil {
		return nil, fmt.Errorf("the recorded %s names no device it corrects", s)
	}
	base, err := f.OpenSpec(*s.Base)
	if err != nil {
		return nil, err
	}
	d, err := calib.NewCorrected(base, cal, calib.CorrectOptions{Weights: s.Kind == calib.KindCalibratedWeights})
	if err != nil {
		base.Close()
		return nil, err
	}
	return d, nil
}
