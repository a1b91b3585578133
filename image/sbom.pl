#!/usr/bin/perl
# image/sbom.pl — the software bill of materials of one build, as SPDX 2.3
# JSON: the appliance image (the document describes it), our own programs,
# the C library linked into them, and every third-party input pinned in
# deps/pins (name, Debian version, SHA-256 of the pinned files, declared
# licence and where it ends up, from deps/licenses), with the relations
# between them (CONTAINS, STATIC_LINK, TEST_TOOL_OF).
#
# Reproducible: no clock but SOURCE_DATE_EPOCH, no host name, no path; the
# document namespace is derived from VERSION and the two input files; keys
# sorted, lists in the order of deps/pins.
#
# Usage: image/sbom.pl TOP OUT
# Env:   VERSION, SOURCE_DATE_EPOCH (both required)
# Owns:  OUT. Reads deps/pins, deps/licenses, and musl-dev's version from
#        dpkg (Debian's musl is linked into every relay program).
use strict;
use warnings;
use Digest::SHA qw(sha256_hex);
use JSON::PP;
use POSIX qw(strftime);

my ($top, $out) = @ARGV;
die "usage: image/sbom.pl TOP OUT\n" unless defined $out;
my $version = $ENV{VERSION} // die "sbom: VERSION is not set\n";
my $epoch = $ENV{SOURCE_DATE_EPOCH} // die "sbom: SOURCE_DATE_EPOCH is not set\n";
die "sbom: SOURCE_DATE_EPOCH '$epoch' is not a number\n" unless $epoch =~ /^\d+$/;

sub slurp {
	my ($f) = @_;
	open(my $fh, '<', $f) or die "sbom: $f: $!\n";
	local $/;
	return <$fh>;
}

my $pins_text = slurp("$top/deps/pins");
my $lic_text = slurp("$top/deps/licenses");

# deps/licenses: NAME WHERE LICENCE...
my %lic;
for (split /\n/, $lic_text) {
	s/#.*//;
	my ($name, $where, @expr) = split ' ';
	next unless defined $name;
	die "sbom: deps/licenses: $name: no licence\n" unless @expr;
	$lic{$name} = { where => $where, expr => "@expr" };
}

# deps/pins: NAME KIND PACKAGE=VERSION FILE SHA256, several files a package
my (@order, %pkg);
for (split /\n/, $pins_text) {
	s/#.*//;
	my ($name, $kind, $spec, $file, $sum) = split ' ';
	next unless defined $sum;
	my ($dpkg, $dver) = split /=/, $spec, 2;
	die "sbom: deps/pins: $name: no licence in deps/licenses\n"
	    unless $lic{$name};
	push @order, $name unless $pkg{$name};
	$pkg{$name} //= { kind => $kind, dpkg => $dpkg, ver => $dver, files => [] };
	push @{ $pkg{$name}{files} }, [ $file, $sum ];
}

my $musl = `dpkg-query -W -f '\${Version}' musl-dev 2>/dev/null`;
die "sbom: musl-dev is not installed (make deps)\n" unless $? == 0 && $musl ne '';

my %where_text = (
	static => 'linked into mxgate, mxgatectl and mxgate-logfwd',
	rootfs => 'files in the image\'s root filesystem',
	kernel => 'the image\'s kernel is built from it',
	boot   => 'the boot loader on the image\'s disk (BIOS and UEFI)',
	bench  => 'make bench only; never in the image',
);

sub id { my $s = shift; $s =~ s/[^A-Za-z0-9.-]/-/g; "SPDXRef-Package-$s" }
sub purl_ver { my $v = shift; $v =~ s/([^A-Za-z0-9._~-])/sprintf('%%%02X', ord $1)/ge; $v }

# a package of ours: no licence declared here, no download
sub ours {
	my ($name, $purpose, $comment) = @_;
	return { SPDXID => id($name), name => $name, versionInfo => $version,
	    supplier => 'Organization: mxgate', downloadLocation => 'NOASSERTION',
	    filesAnalyzed => JSON::PP::false, licenseConcluded => 'NOASSERTION',
	    licenseDeclared => 'NOASSERTION', copyrightText => 'NOASSERTION',
	    primaryPackagePurpose => $purpose, comment => $comment };
}

my @packages = (ours('mxgate-image', 'FIRMWARE', 'The appliance image '
    . '(mxgate.img and its VM formats, SHA256SUMS): kernel, root '
    . 'filesystem, boot loader.'),
    ours('mxgate', 'APPLICATION', 'mxgate, mxgatectl, mxgate-logfwd: '
    . 'static-pie programs written in this project (relay/), and its init '
    . 'and scripts.'), {
	SPDXID => id('musl'),
	name => 'musl-dev',
	versionInfo => $musl,
	supplier => 'Organization: Debian',
	downloadLocation => 'NOASSERTION',
	filesAnalyzed => JSON::PP::false,
	licenseConcluded => 'NOASSERTION',
	licenseDeclared => 'MIT',
	copyrightText => 'NOASSERTION',
	externalRefs => [{ referenceCategory => 'PACKAGE-MANAGER',
	    referenceType => 'purl',
	    referenceLocator => 'pkg:deb/debian/musl-dev@' . purl_ver($musl)
	    . '?arch=amd64' }],
	comment => 'The C library statically linked into mxgate, mxgatectl '
	    . 'and mxgate-logfwd (and busybox): Debian\'s musl on the build '
	    . 'host (BUILDINFO records the host\'s packages).',
});
my @rel = (
	{ spdxElementId => 'SPDXRef-DOCUMENT', relationshipType => 'DESCRIBES',
	  relatedSpdxElement => id('mxgate-image') },
	{ spdxElementId => id('mxgate-image'), relationshipType => 'CONTAINS',
	  relatedSpdxElement => id('mxgate') },
	{ spdxElementId => id('mxgate'), relationshipType => 'STATIC_LINK',
	  relatedSpdxElement => id('musl') },
);
my %extracted;
for my $name (@order) {
	my $p = $pkg{$name};
	my $l = $lic{$name};
	my ($first, @more) = @{ $p->{files} };
	my $arch = $p->{kind} eq 'src' ? 'source'
	    : $first->[0] =~ /_all\.deb$/ ? 'all' : 'amd64';
	$extracted{$_} = 1 for $l->{expr} =~ /(LicenseRef-[A-Za-z0-9.-]+)/g;
	push @packages, {
		SPDXID => id($name),
		name => $p->{dpkg},
		versionInfo => $p->{ver},
		supplier => 'Organization: Debian',
		downloadLocation => 'NOASSERTION',
		filesAnalyzed => JSON::PP::false,
		packageFileName => $first->[0],
		checksums => [{ algorithm => 'SHA256', checksumValue => $first->[1] }],
		licenseConcluded => 'NOASSERTION',
		licenseDeclared => $l->{expr},
		copyrightText => 'NOASSERTION',
		externalRefs => [{ referenceCategory => 'PACKAGE-MANAGER',
		    referenceType => 'purl',
		    referenceLocator => "pkg:deb/debian/$p->{dpkg}@"
		    . purl_ver($p->{ver}) . "?arch=$arch" }],
		($p->{kind} eq 'src' ? (sourceInfo => 'built from the Debian '
		    . 'source package: ' . join(', ', map { "$_->[0] (SHA256 "
		    . "$_->[1])" } @{ $p->{files} })) : ()),
		comment => "Pinned in deps/pins as '$name'; "
		    . ($where_text{$l->{where}} // die "sbom: deps/licenses: "
		    . "$name: WHERE '$l->{where}' unknown\n") . '.',
	};
	my %how = (static => [id('mxgate'), 'STATIC_LINK', id($name)],
	    bench => [id($name), 'TEST_TOOL_OF', id('mxgate')]);
	my $r = $how{$l->{where}} // [id('mxgate-image'), 'CONTAINS', id($name)];
	push @rel, { spdxElementId => $r->[0], relationshipType => $r->[1],
	    relatedSpdxElement => $r->[2] };
}

my $inputs = sha256_hex("$version\n$pins_text$lic_text$musl");
my %doc = (
	spdxVersion => 'SPDX-2.3',
	dataLicense => 'CC0-1.0',
	SPDXID => 'SPDXRef-DOCUMENT',
	name => "mxgate-$version",
	documentNamespace => "https://mxgate.invalid/spdx/mxgate-$version-"
	    . substr($inputs, 0, 16),
	creationInfo => {
		created => strftime('%Y-%m-%dT%H:%M:%SZ', gmtime $epoch),
		creators => [ 'Tool: mxgate image/sbom.pl' ],
	},
	documentDescribes => [ id('mxgate-image') ],
	packages => \@packages,
	relationships => \@rel,
	(%extracted ? (hasExtractedLicensingInfos => [ map { {
		licenseId => $_,
		extractedText => 'See the package\'s debian/copyright.',
		name => $_ =~ s/^LicenseRef-//r } } sort keys %extracted ]) : ()),
);
my $json = JSON::PP->new->canonical(1)->pretty->encode(\%doc);
open(my $fh, '>', "$out.tmp") or die "sbom: $out.tmp: $!\n";
print $fh $json;
close($fh) or die "sbom: $out.tmp: $!\n";
rename("$out.tmp", $out) or die "sbom: $out: $!\n";
