package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// smallVolume mounts a tmpfs of size bytes for the test (root only), or
// returns "" when it cannot.
func smallVolume(t *testing.T, size int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "volume")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.FormatInt(size, 10), "tmpfs", dir).Run(); err != nil {
		return ""
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// TestSmallVolumeRefusesCleanly fills a small data volume: intake refuses
// every channel with a transient answer (HL7 AR "resend later", MedCom
// transient-error 507 with Retry-After) and /readyz says not ready, until
// room is made; then the same messages go through.
func TestSmallVolumeRefusesCleanly(t *testing.T) {
	minFree := int64(48 << 20)
	volume := smallVolume(t, 160<<20)
	tmpfs := volume != ""
	if !tmpfs {
		// No tmpfs (not root): the real file system, with a minimum
		// above what it has free, stands for a full one.
		volume = t.TempDir()
		minFree = freeBytes(t, volume) + 1<<30
		t.Log("no tmpfs: the minimum is set above the free space instead of filling a small volume")
	}
	vars := map[string]string{"STAFET_ORGANISATIONS": "testdata/organisations.json", "STAFET_MIN_FREE": strconv.FormatInt(minFree, 10)}
	svc, _ := startService(t, filepath.Join(volume, "data"), vars)
	base := "http://" + svc.httpAddr.String()
	mllpAddr := svc.mllpAddr.String()

	// Fill the volume to under the minimum.
	ballast := filepath.Join(volume, "ballast")
	if tmpfs {
		waitReady(t, base)
		fill := freeBytes(t, volume) - minFree/2
		if err := os.WriteFile(ballast, make([]byte, fill), 0o600); err != nil {
			t.Fatalf("ballast: %v", err)
		}
		t.Logf("volume: %d MiB free after %d MiB of ballast; intake stops under %d MiB", freeBytes(t, volume)>>20, fill>>20, minFree>>20)
	}

	medcomBody, err := os.ReadFile("../../adapters/translate/medcom/testdata/carecommunication/Bundle-R-Tek-CPR-3-4d9d90c5-5647-4b4a-8c61-770bc5c3e092.json")
	if err != nil {
		t.Fatal(err)
	}
	postMedCom := func() *http.Response {
		t.Helper()
		req, _ := http.NewRequest("POST", base+"/v1/medcom", bytes.NewReader(medcomBody))
		req.Header.Set("Authorization", "Bearer "+svc.admin)
		req.Header.Set("Content-Type", "application/fhir+json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}

	t.Run("readyz says not ready, and why", func(t *testing.T) {
		waitFor(t, "readyz 503", func() bool { code, _ := get(t, base+"/readyz", ""); return code == http.StatusServiceUnavailable })
		_, body := get(t, base+"/readyz", "")
		var h struct {
			Ready   bool `json:"ready"`
			Reasons []struct{ Code, Detail string }
		}
		json.Unmarshal([]byte(body), &h)
		if h.Ready || !strings.Contains(body, "intake-stopped-no-room") {
			t.Errorf("readyz: %s; want not ready, intake-stopped-no-room", body)
		}
	})
	t.Run("HL7 is answered AR, resend later", func(t *testing.T) {
		if code, ack := sendMLLPAck(t, mllpAddr, "testdata/a01.hl7"); code != "AR" || !strings.Contains(ack, "resend it later") {
			t.Errorf("MSA-1 %s, %q; want AR asking for a resend later", code, ack)
		}
	})
	t.Run("MedCom is answered 507 transient-error with Retry-After", func(t *testing.T) {
		res := postMedCom()
		if res.StatusCode != http.StatusInsufficientStorage || res.Header.Get("Retry-After") == "" {
			t.Errorf("status %d, Retry-After %q; want 507 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
		}
	})

	t.Run("an API command is answered 507 no-room with Retry-After", func(t *testing.T) {
		req, _ := http.NewRequest("POST", base+"/v1/pathways", strings.NewReader(`{"actor": "sor:6620000000001", "patient": {"cpr": "0102030405"}}`))
		req.Header.Set("Authorization", "Bearer "+svc.admin)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var p struct{ Type string }
		json.NewDecoder(res.Body).Decode(&p)
		if res.StatusCode != http.StatusInsufficientStorage || !strings.HasSuffix(p.Type, "/no-room") || res.Header.Get("Retry-After") == "" {
			t.Errorf("status %d, %s, Retry-After %q; want 507 no-room with Retry-After", res.StatusCode, p.Type, res.Header.Get("Retry-After"))
		}
	})
	t.Run("a FHIR Task update is answered 507 with Retry-After", func(t *testing.T) {
		req, _ := http.NewRequest("PUT", base+"/fhir/Task/any", strings.NewReader(`{"resourceType": "Task"}`))
		req.Header.Set("Authorization", "Bearer "+svc.admin)
		req.Header.Set("Content-Type", "application/fhir+json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusInsufficientStorage || res.Header.Get("Retry-After") == "" {
			t.Errorf("status %d, Retry-After %q; want 507 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
		}
	})
	if !tmpfs {
		return
	}
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	t.Run("once room is made, the same messages go through", func(t *testing.T) {
		waitReady(t, base)
		if code, ack := sendMLLPAck(t, mllpAddr, "testdata/a01.hl7"); code != "AA" {
			t.Errorf("MSA-1 %s (%q); want AA", code, ack)
		}
		if res := postMedCom(); res.StatusCode != http.StatusOK {
			t.Errorf("MedCom: status %d; want 200", res.StatusCode)
		}
	})
}

// waitFor polls cond for up to 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20 s", what)
		}
	}
}
