package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestREADMEQuotesResults: the README's results tables are the generated
// ones, verbatim. Every table of every results.md under results/ (written by
// cmd/train and cmd/study) must appear in README.md, so a regenerated
// result that the README does not follow fails here.
func TestREADMEQuotesResults(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("../../results/*/results.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../../results/results.md")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		tables := markdownTables(string(b))
		if len(tables) == 0 {
			t.Errorf("%s: no table", f)
		}
		for _, tab := range tables {
			if !strings.Contains(string(readme), tab) {
				t.Errorf("README.md does not quote this table of %s:\n%s", f, tab)
			}
		}
	}
}

// markdownTables returns the runs of consecutive lines starting with "|".
func markdownTables(s string) []string {
	var tables []string
	var cur []string
	for _, line := range strings.Split(s+"\n", "\n") {
		if strings.HasPrefix(line, "|") {
			cur = append(cur, line)
			continue
		}
		if len(cur) > 0 {
			tables = append(tables, strings.Join(cur, "\n"))
			cur = nil
		}
	}
	return tables
}
