package catalog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDetectLicenseCorpus(t *testing.T) {
	cases := map[string]string{
		"VoronDesign__Voron-Trident/LICENSE":    "GPL-3.0-only",
		"prusa3d__Original-Prusa-i3/LICENSE":    "GPL-2.0-only",
		"rwb27__openflexure_microscope/License": "CERN-OHL-1.2",
		"meltoner__agrofelis/LICENSE":           "MIT",
		"uwo-fast__OpenAgriS3D/LICENSE":         "MIT",
	}
	for file, want := range cases {
		data, err := os.ReadFile(filepath.Join("..", "testdata", "corpus", file))
		if err != nil {
			t.Fatal(err)
		}
		if got := DetectLicense(string(data)); got != want {
			t.Errorf("%s: got %q, want %q", file, got, want)
		}
		// Re-wrapped and re-cased, it is still the same licence.
		rewrapped := strings.ToUpper(strings.Join(strings.Fields(string(data)), "\n"))
		if got := DetectLicense(rewrapped); got != want {
			t.Errorf("%s re-wrapped: got %q, want %q", file, got, want)
		}
	}
}

// TestDetectLicenseTexts reads full licence texts from Debian's
// /usr/share/common-licenses (base-files, on every Debian system), notices
// that name a licence by URL, SPDX lines and texts that are no licence.
func TestDetectLicenseTexts(t *testing.T) {
	common := map[string]string{
		"Apache-2.0": "Apache-2.0", "GPL-2": "GPL-2.0-only", "GPL-3": "GPL-3.0-only", "LGPL-2.1": "LGPL-2.1-only",
		"LGPL-3": "LGPL-3.0-only", "MPL-2.0": "MPL-2.0", "CC0-1.0": "CC0-1.0",
	}
	for file, want := range common {
		data, err := os.ReadFile(filepath.Join("/usr/share/common-licenses", file))
		if err != nil {
			t.Fatalf("Debian's licence texts: %v", err)
		}
		if got := DetectLicense(string(data)); got != want {
			t.Errorf("/usr/share/common-licenses/%s: got %q, want %q", file, got, want)
		}
	}
	gpl3, _ := os.ReadFile("/usr/share/common-licenses/GPL-3")
	cases := []struct{ text, want string }{
		// A notice granting later versions above the licence text.
		{"Copyright 2024 A Maker\n\nThis program is free software: you can redistribute it and/or modify it under the terms of the GNU General Public License as published by the Free Software Foundation, either version 3 of the License, or (at your option) any later version.\n\n" + string(gpl3), "GPL-3.0-or-later"},
		{"This work is licensed under a Creative Commons Attribution-ShareAlike 3.0 Unported License. To view a copy of this license, visit http://creativecommons.org/licenses/by-sa/3.0/ or send a letter to Creative Commons, PO Box 1866, Mountain View, CA 94042, USA.", "CC-BY-SA-3.0"},
		{"Licensed under https://creativecommons.org/licenses/by-nc-sa/4.0/", "CC-BY-NC-SA-4.0"},
		{"Licensed under https://creativecommons.org/licenses/by/4.0/ and https://creativecommons.org/licenses/by-sa/4.0/", ""},
		{"// SPDX-License-Identifier: CERN-OHL-S-2.0\n", "CERN-OHL-S-2.0"},
		{"SPDX-License-Identifier: GPL-2.0+\n", "GPL-2.0-or-later"},
		{"SPDX-License-Identifier: GPL-3.0 OR MIT\n", "GPL-3.0-only OR MIT"},
		{"SPDX-License-Identifier: LGPL-2.1-or-later\n", "LGPL-2.1-or-later"},
		{"All rights reserved. Do not copy.", ""},
		{"", ""},
		{"See the README for licensing.", ""},
		// A licence quoted inside a long text that is mostly something else.
		{strings.Repeat("This manual explains how to build the frame and wire the motors. ", 400) + "Permission is hereby granted, free of charge", ""},
	}
	for _, c := range cases {
		if got := DetectLicense(c.text); got != c.want {
			t.Errorf("DetectLicense(%.60q) = %q, want %q", c.text, got, c.want)
		}
	}
}

func TestParseReadmeCorpus(t *testing.T) {
	cases := []struct{ dir, title, descStart string }{
		{"VoronDesign__Voron-Trident", "Voron Trident", "The above link includes the stealthburner toolhead files"},
		{"meltoner__agrofelis", "Agrofelis Robot", "Design plans and system source code repository."},
		{"prusa3d__Original-Prusa-i3", "Original Prusa i3 MK3S", "Original Prusa i3 MK3S is a 3D printer project maintained by PRUSA RESEARCH."},
		{"uwo-fast__OpenAgriS3D", "OpenAgriS3D", "This is a collection of parametric designs for agricultural applications"},
	}
	for _, c := range cases {
		data, err := os.ReadFile(filepath.Join("..", "testdata", "corpus", c.dir, "README.excerpt.md"))
		if err != nil {
			t.Fatal(err)
		}
		r := ParseReadme(string(data))
		if r.Title != c.title {
			t.Errorf("%s: title %q, want %q", c.dir, r.Title, c.title)
		}
		if !strings.HasPrefix(r.Description, c.descStart) {
			t.Errorf("%s: description %q, want it to start with %q", c.dir, r.Description, c.descStart)
		}
		if strings.ContainsAny(r.Description, "[]*`<>") {
			t.Errorf("%s: description keeps Markdown: %q", c.dir, r.Description)
		}
	}
}

func TestParseReadmeFrontMatter(t *testing.T) {
	r := ParseReadme("---\ntitle: x\ntopics: [Farming, tractor]\ncategory: Agriculture\ntags:\n  - seeder\n---\nSeeder\n======\n\nA **seed drill** for [small farms](http://x).\n")
	if r.Title != "Seeder" || r.Description != "A seed drill for small farms." || r.Category != "agriculture" {
		t.Errorf("got %+v", r)
	}
	if got := strings.Join(normalizeTags(r.Tags), ","); got != "farming,seeder,tractor" {
		t.Errorf("tags %q", got)
	}
}

// A README that is nothing but an address, or whose first paragraph is,
// gives no description; prose around an address is kept.
func TestParseReadmeBareURL(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"https://github.com/example/knitting-machine\n", ""},
		{"# Knitter\n\n<https://example.org/knitter>\n\nA circular sock knitting machine.\n", "A circular sock knitting machine."},
		{"www.example.org/tractor\n\nA small tractor.\n", "A small tractor."},
		{"See https://example.org for the build guide.\n", "See https://example.org for the build guide."},
	} {
		if r := ParseReadme(c.text); r.Description != c.want {
			t.Errorf("ParseReadme(%q): description %q, want %q", c.text, r.Description, c.want)
		}
	}
}

func TestParseManifest(t *testing.T) {
	m, problems, err := ParseManifest([]byte(`okhv = "OKH-LOSHv1.0"
name = "Open Seeder"
version = "1.2.0"
license = "CERN-OHL-S-2.0"
function = "Plants seeds in rows."
documentation-language = "en"
keywords = ["Farming", "seeder", "farming"]
category = "Agriculture"

[[part]]
name = "hopper"
source = ["hopper.FCStd", "hopper.stl"]

[[part]]
name = "wheel"
source = "wheel.stl"
`))
	if err != nil || len(problems) > 0 {
		t.Fatalf("err %v, problems %v", err, problems)
	}
	if m.Name != "Open Seeder" || m.Version != "1.2.0" || m.License != "CERN-OHL-S-2.0" || m.Function != "Plants seeds in rows." ||
		m.DocumentationLanguage != "en" || m.Category != "agriculture" || strings.Join(m.Tags, ",") != "farming,seeder" ||
		len(m.Parts) != 2 || m.Parts[0].Name != "hopper" || len(m.Parts[0].Source) != 2 || m.Parts[1].Source[0] != "wheel.stl" {
		t.Errorf("got %+v", m)
	}

	_, _, err = ParseManifest([]byte("name = \"x\"\nlicense = \n"))
	if err == nil || !strings.Contains(err.Error(), "okh.toml: line 2") {
		t.Errorf("malformed manifest: err %v, want one naming okh.toml line 2", err)
	}

	m, problems, err = ParseManifest([]byte("name = 3\nlicense = \"not a licence!\"\nversion = \"1\"\n[[part]]\nname = [1]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "" || m.License != "" || m.Version != "1" || len(problems) != 3 {
		t.Errorf("got %+v, problems %q", m, problems)
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte("name = \"x\"\nlicense = \"MIT\"\n[[part]]\nname = \"a\"\nsource = [\"a.stl\"]\n"))
	f.Add([]byte("license = { spdx-id = \"MIT\" }\npart = 3\n"))
	f.Add([]byte("[[part]]\n[[part]]\nsource = 1\nkeywords = [1, \"a\"]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, _, err := ParseManifest(data)
		if err != nil {
			return
		}
		if m.License != "" && !validSPDX(m.License) {
			t.Errorf("licence %q accepted", m.License)
		}
		if len(m.Tags) > 20 {
			t.Errorf("%d tags", len(m.Tags))
		}
	})
}

func FuzzParseReadme(f *testing.F) {
	f.Add("# T\n\nSome *text* [link](x).\n")
	f.Add("---\ntopics: [a, b\n---\n")
	f.Add("Title\n=====\n```\ncode\n")
	f.Fuzz(func(t *testing.T, text string) {
		r := ParseReadme(text)
		if len(r.Title) > 200 || len(r.Description) > 500 {
			t.Errorf("title %d bytes, description %d bytes", len(r.Title), len(r.Description))
		}
	})
}
