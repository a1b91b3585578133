#!/usr/bin/perl
# build.t — the build's promises about its inputs and outputs:
#  - deps/fetch.sh refuses a cached input whose sha256 differs from its
#    pin (a copy of the cache with one file corrupted), with a clear message;
#  - a second checkout of the tree, built in another directory, gives a
#    bit-identical mxgate, mxgatectl and mxgate-logfwd (paths do not leak
#    into binaries).
use strict;
use warnings;
use Test::More;
use File::Copy qw(copy);
use Digest::SHA;
use MxTest;

my $top = $ENV{MXGATE_TOP} // '.';
my $dl = $ENV{DL_DIR} // "$ENV{HOME}/.cache/mxgate/dl";
my $dir = tmpdir();

# --- a corrupted cached input is refused ----------------------------------
my $bad = "$dir/dl";
mkdir $bad;
my @pinned;
open my $pins, '<', "$top/deps/pins" or die $!;
while (<$pins>) {
	next if /^\s*(#|$)/;
	my @f = split;
	push @pinned, $f[3];
}
close $pins;
ok(@pinned > 10, 'pins list the inputs') or diag scalar @pinned;
for my $f (@pinned) {
	link("$dl/$f", "$bad/$f") or copy("$dl/$f", "$bad/$f") or die "$f: $!";
}
# corrupt a copy of the smallest pinned file (never the real cache)
my ($victim) = sort { -s "$dl/$a" <=> -s "$dl/$b" } @pinned;
unlink "$bad/$victim";
copy("$dl/$victim", "$bad/$victim") or die $!;
open my $fh, '+<', "$bad/$victim" or die $!;
binmode $fh;
seek($fh, 10, 0);
print $fh "X";
close $fh;
my ($rc, $out, $err) = run('bash', "$top/deps/fetch.sh", $bad);
isnt($rc, 0, 'fetch.sh fails on a corrupted input');
like($err, qr/sha256 mismatch for \Q$bad\/$victim\E/, 'it names the file');
like($err, qr/refusing to use it/, 'and says it refuses it');
($rc, $out, $err) = run('bash', "$top/deps/fetch.sh", $dl);
is($rc, 0, 'the real cache still verifies') or diag $err;

# --- reproducible relay binaries ------------------------------------------
SKIP: {
	skip 'MXGATE_SKIP_REPRO set', 3 if $ENV{MXGATE_SKIP_REPRO};
	my ($vrc, $ver) = run(bin('mxgate'), '-V');
	chomp $ver;
	$ver =~ s/^mxgate //;
	my $src = "$dir/second-checkout";
	mkdir $src;
	my @files = split /\0/, `git -C $top ls-files -z`;
	skip 'not a git checkout', 3 unless @files;
	for my $f (@files) {
		my $d = "$src/$f";
		$d =~ s{/[^/]+$}{};
		system('mkdir', '-p', $d);
		if (-l "$top/$f") {	# (rootfs/etc/passwd: a link into /data)
			symlink(readlink("$top/$f"), "$src/$f") or die "$f: $!";
			next;
		}
		copy("$top/$f", "$src/$f") or die "$f: $!";
		chmod((stat "$top/$f")[2] & 07777, "$src/$f");
	}
	my $o2 = "$dir/out2";
	($rc, $out, $err) = run('make', '-C', $src, "O=$o2", "VERSION=$ver",
	    "DL_DIR=$dl", 'relay');
	is($rc, 0, 'second checkout builds') or diag $err;
	for my $b (qw(mxgate mxgatectl mxgate-logfwd)) {
		my $h1 = Digest::SHA->new(256)->addfile(bin($b))->hexdigest;
		my $h2 = eval { Digest::SHA->new(256)->addfile("$o2/bin/$b")->hexdigest } // 'missing';
		is($h2, $h1, "$b: identical sha256 from another directory");
	}
}
done_testing();
