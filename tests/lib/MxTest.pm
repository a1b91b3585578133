# MxTest.pm — shared helpers for mxgate's Perl TAP tests: where the build
# output is, temporary directories, running a program and capturing its
# output and exit code. Network helpers live in MxSMTP.pm.
package MxTest;
use strict;
use warnings;
use Exporter 'import';
use File::Temp qw(tempdir);
use IPC::Open3;
use Symbol 'gensym';

our @EXPORT = qw(out_dir bin tmpdir run write_file read_file);

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
