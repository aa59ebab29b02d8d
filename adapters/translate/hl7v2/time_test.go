package hl7v2

import (
	"errors"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Copenhagen without relying on the system's zoneinfo
)

func TestParseTime(t *testing.T) {
	cph, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		t.Fatal(err)
	}
	zone := func(h, m int) *time.Location { return time.FixedZone("", (h*60+m)*60) }
	tests := []struct {
		in   string
		loc  *time.Location
		want time.Time
	}{
		{"2024", cph, time.Date(2024, 1, 1, 0, 0, 0, 0, cph)},
		{"202403", cph, time.Date(2024, 3, 1, 0, 0, 0, 0, cph)},
		{"20240311", cph, time.Date(2024, 3, 11, 0, 0, 0, 0, cph)},
		{"2024031108", cph, time.Date(2024, 3, 11, 8, 0, 0, 0, cph)},
		{"202403110815", cph, time.Date(2024, 3, 11, 8, 15, 0, 0, cph)},
		{"20240311081503", cph, time.Date(2024, 3, 11, 8, 15, 3, 0, cph)},
		{"20240701120000", cph, time.Date(2024, 7, 1, 12, 0, 0, 0, time.FixedZone("CEST", 7200))},
		{"20240311081503.1234", cph, time.Date(2024, 3, 11, 8, 15, 3, 123400000, cph)},
		{"20240311081503.5", nil, time.Date(2024, 3, 11, 8, 15, 3, 500000000, time.UTC)},
		{"20210817151943.4+0200", cph, time.Date(2021, 8, 17, 15, 19, 43, 400000000, zone(2, 0))},
		{"198908181126+0215", cph, time.Date(1989, 8, 18, 11, 26, 0, 0, zone(2, 15))},
		{"20240311-0500", cph, time.Date(2024, 3, 11, 0, 0, 0, 0, zone(-5, 0))},
		{"20240229", nil, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{" 20240311 ", nil, time.Date(2024, 3, 11, 0, 0, 0, 0, time.UTC)},
		{"20240311081503+0000", cph, time.Date(2024, 3, 11, 8, 15, 3, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTime(tt.in, tt.loc)
			if err != nil {
				t.Fatalf("ParseTime(%q): %v", tt.in, err)
			}
			if !got.Equal(tt.want) {
				t.Errorf("ParseTime(%q) = %v; want %v", tt.in, got, tt.want)
			}
			_, gotOff := got.Zone()
			_, wantOff := tt.want.Zone()
			if gotOff != wantOff {
				t.Errorf("offset = %d; want %d", gotOff, wantOff)
			}
		})
	}
}

func TestParseTimeErrors(t *testing.T) {
	for _, in := range []string{
		"", " ", `""`, "202", "20241", "2024031", "20241301", "20240001", "20240230", "20230229", "20240300",
		"2024031124", "202403110860", "20240311081560", "202403110815030",
		"20240311.5", "20240311081503.", "20240311081503.1234567890", "20240311081503.12a",
		"20240311+01", "20240311+2500", "20240311+0160", "20240311+01000", "2024031a", "+0100",
		"20240311081503+0100x", "2024-03-11", "20240311T081503",
	} {
		t.Run(in, func(t *testing.T) {
			got, err := ParseTime(in, time.UTC)
			if err == nil {
				t.Fatalf("ParseTime(%q) = %v; want an error", in, got)
			}
			if !errors.Is(err, ErrBadTime) {
				t.Errorf("err = %v; want ErrBadTime", err)
			}
			if len(in) > 4 && strings.Contains(err.Error(), in) {
				t.Errorf("err %q quotes the value", err)
			}
		})
	}
}
