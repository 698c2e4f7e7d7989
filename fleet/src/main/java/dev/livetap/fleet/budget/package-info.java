/** The freeze budget: how many VMs of one host may be in their stop→resume window at once. */
package dev.livetap.fleet.budget;
