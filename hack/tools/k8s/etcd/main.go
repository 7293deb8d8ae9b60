// Command etcd is the real etcd server, built from its Go module at the version that
// k8s.io/kubernetes itself requires. The etcd server module has no main package at its
// root, so this file is the whole of the program.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
