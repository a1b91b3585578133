#!/usr/bin/perl
# hardening.t — the shipped binaries are what hardening/flags.mk promises,
# read back from the ELF files themselves with readelf (not from a flag
# list): static-pie (no INTERP, no NEEDED), full RELRO (GNU_RELRO +
# BIND_NOW), NX stack, no RWX segment, stack protector present.
use strict;
use warnings;
use Test::More;
use MxTest;

my @bins = grep { -f } map { bin($_) } qw(mxgate mxgatectl);
ok(@bins >= 1, 'relay binaries built') or BAIL_OUT('no binaries');

for my $b (@bins) {
	my $name = (split m{/}, $b)[-1];
	my ($rc, $hdr) = run('readelf', '-hlW', $b);
	is($rc, 0, "$name: readelf -hl");
	like($hdr, qr/Type:\s+DYN/, "$name: position independent (ET_DYN)");
	unlike($hdr, qr/\bINTERP\b/, "$name: no INTERP segment (static)");
	like($hdr, qr/GNU_RELRO/, "$name: GNU_RELRO segment");
	my ($stack) = $hdr =~ /GNU_STACK\s+(?:\S+\s+){5}(\S+)/;
	ok(defined $stack && $stack !~ /E/, "$name: non-executable stack")
	    or diag "GNU_STACK flags: " . ($stack // 'missing');
	my @rwx = grep { /LOAD/ && /\sRWE\s/ } split /\n/, $hdr;
	is(scalar @rwx, 0, "$name: no RWX LOAD segment");

	my ($rc2, $dyn) = run('readelf', '-dW', $b);
	unlike($dyn, qr/\(NEEDED\)/, "$name: no shared library needed");
	like($dyn, qr/\(FLAGS\).*BIND_NOW|\(FLAGS_1\).*\bNOW\b/,
	    "$name: BIND_NOW (full RELRO)");
	like($dyn, qr/\(FLAGS_1\).*\bPIE\b/, "$name: PIE flag");

	# musl itself references __stack_chk_fail, so its presence proves
	# nothing: look inside functions of ours that own stack arrays and
	# require the canary check there.
	my ($rc3, $asm) = run('objdump', '-d', '--no-show-raw-insn', $b);
	my %fn;
	my $cur;
	for (split /\n/, $asm) {
		if (/^[0-9a-f]+ <([^>]+)>:$/) { $cur = $1; next }
		$fn{$cur} .= "$_\n" if defined $cur;
	}
	for my $f (qw(config_parse net_parse_endpoint)) {
		ok(exists $fn{$f} && $fn{$f} =~ /call\s.*<__stack_chk_fail/,
		    "$name: $f() checks the stack canary");
	}

	my ($rc4, $file) = run('file', $b);
	like($file, qr/static-pie linked/, "$name: file(1) says static-pie");
}

done_testing();
