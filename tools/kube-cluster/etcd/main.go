// Command etcd is etcd's own server entry point, built at the version Kubernetes
// v1.35.4 itself depends on.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
