# MxTest.pm — shared helpers for mxgate's Perl TAP tests: where the build
# output is, temporary directories, running a program and capturing its
# output and exit code. Network helpers live in MxSMTP.pm.
package MxTest;
use strict;
use warnings;
use Exporter 'import';
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IPC::Open3;
use Symbol 'gensym';

our @EXPORT = qw(out_dir bin tmpdir run write_file read_file free_port need);

# need([WHAT, TRUE], ...): a missing prerequisite fails the test with its
# reason ("needs WHAT") and ends it: never a silent skip.
sub need {
	require Test::More;
	for my $n (@_) {
		next if $n->[1];
		Test::More::fail("needs $n->[0]");
		Test::More::done_testing();
		exit;
	}
}

sub out_dir { $ENV{MXGATE_OUT} // ($ENV{MXGATE_TOP} // '.') . '/out' }
sub bin     { out_dir() . '/bin/' . shift }

sub tmpdir {
	my $base = out_dir() . '/tmp';
	mkdir $base;
	return tempdir('t-XXXXXX', DIR => $base, CLEANUP => !$ENV{KEEP_TMP});
}

# run(@argv) -> (exit code, stdout, stderr); dies if it cannot start
sub run {
	my @argv = @_;
	my $err = gensym;
	my $pid = open3(my $in, my $out, $err, @argv);
	close $in;
	local $/;
	my $o = <$out> // '';
	my $e = <$err> // '';
	waitpid($pid, 0);
	return ($? >> 8, $o, $e);
}

# free_port(udp => 1) -> a free port on 127.0.0.1, picked at random below
# the ephemeral range and checked by binding it (TCP, and UDP too when
# asked); never the same one twice in a process. The one copy every test
# and helper uses.
my %taken;
sub free_port {
	my (%o) = @_;
	for (1 .. 200) {
		my $p = 20000 + int(rand(12000));
		next if $taken{$p};
		my $t = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
		    LocalPort => $p, Proto => 'tcp', Listen => 1,
		    ReuseAddr => 0) or next;
		if ($o{udp}) {
			my $u = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
			    LocalPort => $p, Proto => 'udp') or next;
		}
		$taken{$p} = 1;
		return $p;
	}
	die "no free port";
}

sub write_file {
	my ($path, $text) = @_;
	open my $fh, '>', $path or die "$path: $!";
	binmode $fh;
	print $fh $text;
	close $fh or die "$path: $!";
	return $path;
}

sub read_file {
	my ($path) = @_;
	open my $fh, '<', $path or return undef;
	binmode $fh;
	local $/;
	my $t = <$fh>;
	return $t;
}

1;
