/** The fault doubles (a recording vhost backend and script runner): simulation main code, compiled into actors' tests too. */
package dev.livetap.simulation.doubles;
