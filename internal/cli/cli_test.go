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

func TestProgram(t *testing.T) {
	for arg0, want := range map[string]string{
		"/tmp/go-build1234/b001/exe/train": "go run ./cmd/train",
		"/tmp/cli.test":                    "go run ./cmd/train",
		"/tmp/bin/train":                   "train",
		"./train":                          "train",
		"/usr/local/bin/analogloop-train":  "analogloop-train",
	} {
		if got := program(arg0, "train"); got != want {
			t.Errorf("program(%q) = %q, want %q", arg0, got, want)
		}
	}
}
