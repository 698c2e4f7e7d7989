/** {@code livetap demo}: real VMM processes, a real TAP in a private namespace, real ping through repeated migrations. */
package dev.livetap.testbed.demo;
