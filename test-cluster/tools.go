//go:build tools

// Package tools pins the upstream commands this test-only module builds:
// kube-apiserver and kube-controller-manager from k8s.io/kubernetes, and
// etcd from go.etcd.io/etcd/server/v3. Nothing here is part of the product.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
