package cli

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestFlagErrors(t *testing.T) {
	known := errors.New("field Epochs")
	err := errors.Join(errors.New("first"), errors.Join(known, errors.New("third")))
	got := FlagErrors(err, func(e error) (string, bool) {
		if e == known {
			return "-epochs -1: want 0 or more", true
		}
		return "", false
	})
	if want := "first\n-epochs -1: want 0 or more\nthird"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestProgressOnlyOnATerminal(t *testing.T) {
	var b strings.Builder
	if Progress(&b) != nil {
		t.Error("a strings.Builder is not a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if Progress(f) != nil {
		t.Error("a regular file is not a terminal")
	}
}
