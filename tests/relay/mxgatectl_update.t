#!/usr/bin/perl
# mxgatectl_update.t — firmware updates on the host, the appliance's disk
# stood in for by files under $MXGATE_UPDATE_ROOT (esp/, root-a, root-b,
# cmdline, update-keys), with bundles made by the real image/bundle.sh and
# image/slot.sh (squashfs + veritysetup) and signed by openssl:
#  - status: running slot a, slot b empty;
#  - apply: slot b written byte for byte, its kernel, SBOM and slot.env
#    (the manifest's root hash) on the ESP, grubenv tries b first for 3
#    boots; audited;
#  - refused with a clear message and nothing written (every file under
#    the root compared): an unsigned bundle, one signed with a key the
#    appliance does not trust, a truncated one, one with a byte changed
#    in its slot, one older than the running build (taken with
#    --allow-downgrade, audited);
#  - confirm: the running trial slot becomes good with 3 boots; a slot
#    GRUB passed over is marked bad, the failed update said by status;
#    --failed reboots a slot on trial and not a good one;
#  - rollback: to a good slot; refused towards a bad one.
use strict;
use warnings;
use Test::More;
use MxTest;

sub on_path { my $p = shift; grep { -x "$_/$p" } split /:/, "$ENV{PATH}:/usr/sbin:/sbin" }
need(map { ["$_ (make deps)", on_path($_)] } qw(mksquashfs veritysetup openssl));
$ENV{PATH} .= ':/usr/sbin:/sbin';
my $top = $ENV{MXGATE_TOP} // '.';
my $ctl = bin('mxgatectl');
my $dir = tmpdir();
my $root = "$dir/root";
mkdir $_ or die for $root, "$root/esp", "$root/esp/grub", "$root/esp/slot-a";
my $audit = "$dir/audit.log";
my $power = "$dir/power.log";
write_file("$dir/power", "#!/bin/sh\necho \"\$1\" >>$power\n");
chmod 0755, "$dir/power";
$ENV{MXGATE_UPDATE_ROOT} = $root;
$ENV{MXGATECTL_POWER} = "$dir/power";

my ($version_rc, $v) = run($ctl, '-V');
my ($running) = $v =~ /^mxgatectl (\S+)/;

# the factory state: slot a, b empty
sub grubenv {
	my $body = "# GRUB Environment Block\n" . join('', map { "$_\n" } @_);
	return $body . ('#' x (1024 - length $body));
}
sub env_of {
	my %e = read_file(shift) =~ /^(\w+)=(.*)$/mg;
	return \%e;
}
write_file("$root/esp/grub/grubenv", grubenv('mx_first=a', 'mx_a_state=good',
    'mx_a_left=3', 'mx_b_state=empty', 'mx_b_left=0'));
write_file("$root/esp/slot-a/slot.env", grubenv("mx_version=$running"));
write_file("$root/root-a", "slot a content\n");
write_file("$root/root-b", '');
write_file("$root/cmdline", "console=ttyS0 mxgate.slot=a root=/dev/dm-0\n");
my $pub = "$top/tests/keys/update-dev.pub.pem";
my ($hrc, $hex) = run('sh', '-c', "openssl ec -pubin -in $pub -pubout "
    . "-conv_form uncompressed -outform DER 2>/dev/null | tail -c 65 | od -An -v -tx1 | tr -d ' \\n'");
write_file("$root/update-keys", "# trusted\nupdate-dev $hex\n");

sub ctl { run($ctl, '-f', "$dir/none.conf", '-a', $audit, @_) }

# a bundle of a small root tree; %o: epoch, key, unsigned
sub bundle {
	my ($name, $version, %o) = @_;
	my $w = "$dir/b-$name";
	mkdir $w; mkdir "$w/tree"; mkdir "$w/tree/etc";
	write_file("$w/tree/etc/mxgate-release", "$version\n");
	write_file("$w/tree/etc/filler", join('', map { "line $_ of $name\n" } 1 .. 3000));
	write_file("$w/kernel", "kernel of $version\n" x 500);
	write_file("$w/sbom.json", "{\"name\":\"$version\"}\n");
	local $ENV{VERSION} = $version;
	local $ENV{SOURCE_DATE_EPOCH} = $o{epoch} // time();
	local $ENV{UNSIGNED} = $o{unsigned} ? 1 : 0;
	my ($rc, $out, $err) = run("$top/image/slot.sh", "$w/tree", $w, 64 << 20);
	is($rc, 0, "$name: slot.sh") or diag($err);
	($rc, $out, $err) = run("$top/image/bundle.sh", "$w/kernel", "$w/slot.img",
	    "$w/slot.env", "$w/sbom.json", $o{key} // "$top/tests/keys/update-dev.pem",
	    "$w/$name.mxu");
	is($rc, 0, "$name: bundle.sh") or diag($err);
	return ("$w/$name.mxu", $w);
}

# every file under the root, with its content's digest
sub snapshot {
	my ($rc, $out) = run('sh', '-c', "cd $root && find . -type f ! -name update.lock | sort | xargs sha256sum");
	return $out;
}

# --- status, factory ---------------------------------------------------------------
my ($rc, $out, $err) = ctl('update', 'status');
is($rc, 0, 'update status') or diag($err);
like($out, qr/^running: slot a, mxgate \Q$running\E$/m, 'status: running slot a');
like($out, qr/^slot a: \Q$running\E, good, 3 boot\(s\) left, tried first, running$/m, 'status: slot a good');
like($out, qr/^slot b: -, empty, 0 boot\(s\) left$/m, 'status: slot b empty');
($rc, $out) = ctl('update', 'status', '--json');
like($out, qr/"running_slot":"a".*"slot_b":\{"version":"-","state":"empty"/, 'status --json');

# --- refusals: nothing written -------------------------------------------------------
my $before = snapshot();
my ($unsigned) = bundle('unsigned', '9.1', unsigned => 1);
($rc, $out, $err) = ctl('update', 'apply', $unsigned);
is($rc, 100, 'unsigned bundle: refused');
like($err, qr/refused, nothing written: header: no signature line \(unsigned bundle\)/, 'unsigned: said so');

my $other = "$dir/other.pem";
run('openssl', 'ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', $other);
my ($foreign) = bundle('foreign', '9.2', key => $other);
($rc, $out, $err) = ctl('update', 'apply', $foreign);
is($rc, 100, 'bundle signed with an untrusted key: refused');
like($err, qr/the signature does not verify with any key this appliance trusts/, 'untrusted: said so');

my ($good, $gw) = bundle('good', '9.3');
my $size = -s $good;
my $trunc = "$dir/truncated.mxu";
write_file($trunc, substr(read_file($good), 0, $size - 5000));
($rc, $out, $err) = ctl('update', 'apply', $trunc);
is($rc, 100, 'truncated bundle: refused');
like($err, qr/truncated: \d+ bytes, its manifest needs $size/, 'truncated: said so, with the sizes');

my $flipped = "$dir/flipped.mxu";
my $bytes = read_file($good);
substr($bytes, $size - 100, 1) = chr(ord(substr($bytes, $size - 100, 1)) ^ 1);
write_file($flipped, $bytes);
($rc, $out, $err) = ctl('update', 'apply', $flipped);
is($rc, 100, 'a byte changed in the slot: refused');
like($err, qr/its slot does not match the signed SHA-256/, 'changed byte: said so');

my ($old) = bundle('old', '0.0.1', epoch => 1000000000);
($rc, $out, $err) = ctl('update', 'apply', $old);
is($rc, 100, 'an older bundle: refused');
like($err, qr/mxgate 0\.0\.1 is older than the running \Q$running\E \(--allow-downgrade/, 'older: said so');

($rc, $out, $err) = ctl('update', 'apply', "$dir/missing.mxu");
is($rc, 100, 'a missing file: refused');
($rc, $out, $err) = ctl('update', 'apply', 'esp:../x.mxu');
is($rc, 100, 'esp: with a path: refused');
is(snapshot(), $before, 'after every refusal: not a byte written');

# --- apply ---------------------------------------------------------------------------
($rc, $out, $err) = ctl('update', 'apply', $good);
is($rc, 0, 'apply a good bundle') or diag($err);
like($out, qr/bundle: mxgate 9\.3, signed with the key "update-dev"/, 'apply: names the key');
like($out, qr/slot b now holds mxgate 9\.3 and is tried first at the next boot/, 'apply: says what happens next');
is(read_file("$root/root-b"), read_file("$gw/slot.img"), 'slot b holds the slot, byte for byte');
is(read_file("$root/esp/slot-b/vmlinuz"), read_file("$gw/kernel"), 'its kernel on the ESP');
is(read_file("$root/esp/slot-b/mxgate.spdx.json"), read_file("$gw/sbom.json"), 'its SBOM on the ESP');
my $se = env_of("$root/esp/slot-b/slot.env");
my $ge = env_of("$gw/slot.env");
is_deeply($se, $ge, 'slot.env: what image/slot.sh wrote (version, root hash, salt, blocks)');
is(length(read_file("$root/esp/slot-b/slot.env")), 1024, 'slot.env: one environment block');
my $e = env_of("$root/esp/grub/grubenv");
is_deeply([@$e{qw(mx_first mx_b_state mx_b_left mx_a_state mx_a_left)}],
    [qw(b trial 3 good 3)], 'grubenv: b first, on trial, 3 boots; a stays good');
is(length(read_file("$root/esp/grub/grubenv")), 1024, 'grubenv: 1024 bytes');
like(read_file($audit), qr/op=update apply arg=\Q$good\E result=ok: mxgate 9\.3 into slot b/, 'apply: audited');
like(read_file($audit), qr/op=update apply arg=\Q$unsigned\E result=refused: header: no signature/, 'refusal: audited');

($rc, $out, $err) = ctl('update', 'apply', $old, '--allow-downgrade');
is($rc, 0, 'older bundle with --allow-downgrade: taken') or diag($err);
like(read_file($audit), qr/op=update arg=0\.0\.1 result=downgrade allowed/, 'downgrade: audited');
($rc, $out, $err) = ctl('update', 'apply', $good);
is($rc, 0, 'the good bundle again');

# --- the boot check -----------------------------------------------------------------
write_file("$root/cmdline", "mxgate.slot=b\n");
($rc, $out, $err) = ctl('update', 'confirm');
is($rc, 0, 'confirm on slot b (no configuration: no relay to ask)') or diag($err);
$e = env_of("$root/esp/grub/grubenv");
is_deeply([@$e{qw(mx_first mx_b_state mx_b_left)}], [qw(b good 3)], 'confirm: b good, 3 boots');

# an update applied during this boot (b on trial, first, 3 boots ahead):
# the boot check of the running a is no fallback
write_file("$root/esp/grub/grubenv", grubenv('mx_first=b', 'mx_a_state=good',
    'mx_a_left=2', 'mx_b_state=trial', 'mx_b_left=3'));
write_file("$root/cmdline", "mxgate.slot=a\n");
($rc, $out, $err) = ctl('update', 'confirm');
is($rc, 0, 'confirm with an update applied during this boot');
unlike($out, qr/did not come up/, '... no fallback said');
$e = env_of("$root/esp/grub/grubenv");
is_deeply([@$e{qw(mx_first mx_b_state mx_b_left mx_a_state mx_a_left)}],
    [qw(b trial 3 good 3)], '... b still first, on trial; a good with 3 boots');

# b runs out of boots: GRUB boots a
write_file("$root/esp/grub/grubenv", grubenv('mx_first=b', 'mx_a_state=good',
    'mx_a_left=2', 'mx_b_state=trial', 'mx_b_left=0'));
write_file("$root/cmdline", "mxgate.slot=a\n");
($rc, $out, $err) = ctl('update', 'confirm');
is($rc, 0, 'confirm after a fallback');
like($out, qr/mxgate: update: slot b \(mxgate 9\.3\) did not come up healthy within its boots; running slot a/, 'fallback: said');
$e = env_of("$root/esp/grub/grubenv");
is_deeply([@$e{qw(mx_first mx_b_state mx_a_state mx_a_left mx_failed)}],
    ['a', 'bad', 'good', 3, 'b 9.3'], 'fallback: b bad, a first and good, the failure kept');
($rc, $out) = ctl('update', 'status');
like($out, qr/^failed update: b 9\.3 \(it did not come up healthy/m, 'status: the failed update');

($rc, $out, $err) = ctl('update', 'rollback');
is($rc, 100, 'rollback towards a bad slot: refused');
like($err, qr/slot b \(9\.3\) is bad, not a good slot to return to/, 'rollback refusal: said');

# --failed: only a slot on trial reboots
unlink $power;
($rc, $out, $err) = ctl('update', 'confirm', '--failed');
ok(!-e $power, '--failed on a good slot: no reboot');
write_file("$root/esp/grub/grubenv", grubenv('mx_first=b', 'mx_a_state=good',
    'mx_a_left=3', 'mx_b_state=trial', 'mx_b_left=2'));
write_file("$root/cmdline", "mxgate.slot=b\n");
($rc, $out, $err) = ctl('update', 'confirm', '--failed');
is($rc, 0, '--failed on a trial slot');
like($out, qr/slot b not healthy: on trial, rebooting \(2 boot\(s\) left\)/, '--failed: says why');
is(read_file($power), "reboot\n", '--failed on a trial slot: reboots');

# rollback from b (good) to a (good)
write_file("$root/esp/grub/grubenv", grubenv('mx_first=b', 'mx_a_state=good',
    'mx_a_left=3', 'mx_b_state=good', 'mx_b_left=3'));
($rc, $out, $err) = ctl('update', 'rollback');
is($rc, 0, 'rollback to slot a') or diag($err);
like($out, qr/slot a \(mxgate \Q$running\E\) boots first from the next boot on/, 'rollback: said');
is(env_of("$root/esp/grub/grubenv")->{mx_first}, 'a', 'rollback: a first');
like(read_file($audit), qr/op=update rollback arg=- result=ok: slot a/, 'rollback: audited');

($rc, $out, $err) = ctl('update', 'apply');
is($rc, 100, 'apply without a file: usage');

# boot_check_seconds, the boot check's deadline (init/service/bootcheck)
for my $case ([20, 0], [3600, 0], [19, 1], [3601, 1]) {
	write_file("$dir/bc.conf", "listen 127.0.0.1:2525\nroute demo.test 127.0.0.1:2526\n"
	    . "queue $dir/q\nboot_check_seconds $case->[0]\n");
	my ($crc) = run(bin('mxgate'), '-n', '-f', "$dir/bc.conf");
	is($crc ? 1 : 0, $case->[1], "boot_check_seconds $case->[0]: " . ($case->[1] ? 'refused' : 'accepted'));
}
done_testing();
