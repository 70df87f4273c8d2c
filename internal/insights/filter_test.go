package insights

import "testing"

func TestFilterMatchesWorkloads(t *testing.T) {
	web := Workload{Namespace: "shop", OwnerKind: "Deployment", OwnerName: "web", Pod: "web-7d9f6-x2x9k", Container: "web"}
	webAPI := Workload{Namespace: "shop", OwnerKind: "Deployment", OwnerName: "web-api", Pod: "web-api-5c4-abcde", Container: "api"}
	bare := Workload{Namespace: "shop", Pod: "debug-1", Container: "sh"}
	host := Workload{Cgroup: "/system.slice/sshd.service"}
	for _, c := range []struct {
		workload string
		w        Workload
		want     bool
	}{
		{"web", web, true}, {"web", webAPI, false}, {"web-7d9f6-x2x9k", web, true}, {"web-api", webAPI, true},
		{"debug", bare, true}, {"debug-1", bare, true}, {"deb", bare, false},
		{"sshd.service", host, true}, {"/system.slice/sshd.service", host, true}, {"sshd", host, false},
	} {
		if got := (Filter{Workload: c.workload}).matches(c.w); got != c.want {
			t.Errorf("--workload %s on %s: %v, want %v", c.workload, c.w.Name(), got, c.want)
		}
	}
	sel, err := ParseSelector("owner_kind=Deployment,container!=api")
	if err != nil {
		t.Fatal(err)
	}
	if f := (Filter{Selector: sel}); !f.matches(web) || f.matches(webAPI) || f.matches(bare) {
		t.Error("selector over owner and series labels")
	}
}

func TestFilterMatchers(t *testing.T) {
	for f, want := range map[*Filter]string{
		{Namespace: "shop"}:                      `namespace="shop"`,
		{Pod: "web-*"}:                           `pod=~"web-.*"`,
		{Pod: "a.b*"}:                            `pod=~"a\\.b.*"`,
		{Cgroup: "/kubepods/"}:                   `cgroup=~"/kubepods/.*"`,
		{Namespace: "a", Pod: "p", Cgroup: "/x"}: `namespace="a",pod="p",cgroup="/x"`,
		{}:                                       ``,
	} {
		if got := f.matchers(); got != want {
			t.Errorf("%+v: %s, want %s", *f, got, want)
		}
	}
}

func TestLeaves(t *testing.T) {
	var series []Series
	for _, p := range []string{"/", "/kubepods", "/kubepods/burstable/podA", "/kubepods/burstable/podA/c1", "/kubepods/burstable/podA/c2", "/kubepods/burstable/podA-x", "/system.slice/a.service"} {
		series = append(series, Series{Labels: map[string]string{"cgroup": p}})
	}
	got := leaves(series)
	for p, want := range map[string]bool{
		"/": false, "/kubepods": false, "/kubepods/burstable/podA": false, "/kubepods/burstable/podA/c1": true,
		"/kubepods/burstable/podA/c2": true, "/kubepods/burstable/podA-x": true, "/system.slice/a.service": true,
	} {
		if got[p] != want {
			t.Errorf("leaf %s: %v, want %v", p, got[p], want)
		}
	}
}
