package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestBadFlagsRefusedBeforeWork(t *testing.T) {
	cases := map[string][]string{
		"-epochs -3: want 0 or more": {"-epochs", "-3"},
		"-device gpu":                {"-device", "gpu"},
		"-lr 0: want a positive":     {"-lr", "0"},
		"unexpected arguments":       {"extra"},
		"drop -epochs":               {"-resume", "-epochs", "2"},
		"-eval uses only":            {"-eval", "x.json", "-epochs", "2", "-out", "o"},
		"-trials 0":                  {"-eval", "x.json", "-trials", "0"},
	}
	for want, args := range cases {
		var out, errb bytes.Buffer
		// -out points nowhere writable: a run that started would fail there,
		// so exit code 2 proves the refusal came first.
		if args[0] != "-eval" {
			args = append([]string{"-out", "/proc/analogloop-no"}, args...)
		}
		code := run(args, &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", args, code, errb.String(), want)
		}
	}
}

func TestHelpListsEveryFlag(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-h"}, &out, &errb); code != 0 {
		t.Fatalf("-h exit %d", code)
	}
	for _, f := range []string{"-data", "-dataset", "-model", "-epochs", "-hil-epochs", "-batch", "-lr", "-device", "-chip", "-trials", "-seed", "-out", "-resume", "-eval"} {
		if !strings.Contains(errb.String(), "\n  "+f+" ") && !strings.Contains(errb.String(), "\n  "+f+"\n") {
			t.Errorf("-h does not document %s", f)
		}
	}
}
