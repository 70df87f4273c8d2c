module github.com/orb8/orb8/hack/dashboards

go 1.26.0

require github.com/grafana/grafana-foundation-sdk/go v0.0.22
