package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/analogloop/analogloop/analogmac"
	"github.com/analogloop/analogloop/chipserver"
	"github.com/analogloop/analogloop/chipserver/chipservertest"
)

// TestRemoteLikeLocal: characterising a chip through a server gives the
// same parameters.json and CSV as characterising it in process.
func TestRemoteLikeLocal(t *testing.T) {
	d, err := analogmac.NewDevice(analogmac.KindChip, 3)
	if err != nil {
		t.Fatal(err)
	}
	srv := chipservertest.Start(t, "", chipserver.Config{Device: d})
	dir := t.TempDir()
	local, rem := filepath.Join(dir, "local"), filepath.Join(dir, "remote")
	if err := run([]string{"-out", local, "-device", "chip", "-chip", "3", "-repeats", "5"}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"-out", rem, "-device", "remote", "-remote", srv.Addr, "-repeats", "5"}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"parameters.json", "characterization.csv"} {
		a, _ := os.ReadFile(filepath.Join(local, f))
		b, _ := os.ReadFile(filepath.Join(rem, f))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s differs between the local and the remote chip 3", f)
		}
	}
}
