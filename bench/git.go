package main

import "fmt"

// benchGit is a placeholder until its issue lands.
func benchGit(b *Bench) error {
	fmt.Println("not built yet")
	return nil
}
