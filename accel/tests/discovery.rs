//! UIO discovery on fake sysfs trees: the right device is found, bad trees give typed errors.

mod common;

use rhythm_accel::driver::{Device, DeviceConfig, DmaSource, DriverError};
use rhythm_accel::uio::{find, UioError, UioPaths};
use rhythm_accel::{Sim, SimConfig};
use std::path::Path;

fn map(dir: &Path, i: usize, addr: &str, size: &str) {
    let m = dir.join(format!("maps/map{i}"));
    std::fs::create_dir_all(&m).unwrap();
    std::fs::write(m.join("addr"), addr).unwrap();
    std::fs::write(m.join("size"), size).unwrap();
    std::fs::write(m.join("offset"), "0x0\n").unwrap();
}

#[test]
fn finds_the_named_device_among_others() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("class/uio");
    for (n, name) in [(0, "other-ip"), (3, "rhythm-accel"), (1, "rhythm-accel")] {
        let d = root.join(format!("uio{n}"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("name"), format!("{name}\n")).unwrap();
        map(&d, 0, "0x40000000\n", "0x1000\n");
        map(&d, 1, "0x80000000\n", "0x400000\n");
    }
    std::fs::create_dir_all(root.join("not-uio")).unwrap();
    let found = find(&root, "rhythm-accel").unwrap();
    assert_eq!(found.iter().map(|f| f.number).collect::<Vec<_>>(), [1, 3]);
    assert_eq!(found[0].maps[1].addr, 0x8000_0000);
    assert_eq!(found[0].maps[1].size, 0x40_0000);
    assert!(matches!(
        find(&root, "nope"),
        Err(UioError::NotFound { .. })
    ));
    assert!(matches!(
        find(&t.path().join("missing"), "x"),
        Err(UioError::NotFound { .. })
    ));
    // A garbled attribute is an error, not a panic or a zero.
    std::fs::write(root.join("uio1/maps/map1/size"), "lots\n").unwrap();
    assert!(matches!(
        find(&root, "rhythm-accel"),
        Err(UioError::Sysfs { .. })
    ));
}

#[test]
fn open_refuses_wrong_id_small_maps_and_missing_node() {
    let t = tempfile::tempdir().unwrap();
    let paths = UioPaths {
        class_root: t.path().join("class/uio"),
        dev_root: t.path().join("dev"),
    };
    let d = paths.class_root.join("uio0");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::create_dir_all(&paths.dev_root).unwrap();
    std::fs::write(d.join("name"), "rhythm-accel\n").unwrap();
    map(&d, 0, "0x40000000", "0x1000");
    map(&d, 1, "0x80000000", "0x100000");
    let cfg = || DeviceConfig {
        paths: paths.clone(),
        ..DeviceConfig::default()
    };
    // No device node.
    assert!(Device::open(cfg()).is_err());
    // A node whose registers are all zero: not our device.
    let node = paths.dev_root.join("uio0");
    let f = std::fs::File::create(&node).unwrap();
    f.set_len(rhythm_accel::uio::page_size() as u64 + 0x100000)
        .unwrap();
    match Device::open(cfg()) {
        Err(DriverError::NotOurDevice { id: 0, .. }) => {}
        other => panic!("{other:?}"),
    }
    // A register map smaller than the register block.
    map(&d, 0, "0x40000000", "0x100");
    assert!(matches!(Device::open(cfg()), Err(DriverError::BadMap(_))));
}

#[test]
fn udmabuf_source_is_discovered_and_mapped() {
    let sim = Sim::start(SimConfig::default()).unwrap();
    let t = tempfile::tempdir().unwrap();
    let class = t.path().join("class/u-dma-buf");
    let d = class.join("udmabuf0");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("phys_addr"), "0x90000000\n").unwrap();
    std::fs::write(d.join("size"), "1048576\n").unwrap();
    let f = std::fs::File::create(t.path().join("udmabuf0")).unwrap();
    f.set_len(1 << 20).unwrap();
    let mut cfg = sim.device_config().unwrap();
    cfg.dma = DmaSource::Udmabuf {
        class_root: class,
        dev_root: t.path().to_path_buf(),
        name: "udmabuf0".into(),
    };
    let mut dev = Device::open(cfg).unwrap();
    assert_eq!(dev.data_window().end, 0x9000_0000 + (1 << 20));
    let b = dev.alloc(100).unwrap();
    assert!(b.bus >= 0x9000_0000 && b.bus.is_multiple_of(64));
    dev.write(&b, 0, &[7; 100]).unwrap();
    let mut back = [0u8; 100];
    dev.read(&b, 0, &mut back).unwrap();
    assert_eq!(back, [7; 100]);
    assert!(matches!(
        dev.write(&b, 50, &[0; 51]),
        Err(DriverError::DmaBounds { .. })
    ));
}

/// `--accel-uio /dev/uioN`: the node's number picks the device among those with the name; a
/// path that is not a UIO node, or a number with no such device, is a typed error naming it.
#[test]
fn a_uio_node_path_opens_exactly_that_device() {
    let cfg = DeviceConfig::at_node(Path::new("/dev/uio3")).unwrap();
    assert_eq!(cfg.number, Some(3));
    assert_eq!(cfg.paths.dev_root, Path::new("/dev"));
    assert_eq!(cfg.paths.class_root, Path::new("/sys/class/uio"));
    assert_eq!(cfg.dma, DmaSource::UioMap(1));
    for bad in ["/dev/sda", "/dev/uio", "/dev/uiox", "uio-1", ""] {
        assert!(
            matches!(
                DeviceConfig::at_node(Path::new(bad)),
                Err(DriverError::BadNode(_))
            ),
            "{bad}"
        );
    }
    assert_eq!(
        DmaSource::udmabuf("/dev/udmabuf2"),
        DmaSource::Udmabuf {
            class_root: "/sys/class/u-dma-buf".into(),
            dev_root: "/dev".into(),
            name: "udmabuf2".into(),
        }
    );

    // The simulator's tree holds uio0: number 0 opens it, number 1 is not there.
    let sim = Sim::start(SimConfig::default()).unwrap();
    let mut cfg = sim.device_config().unwrap();
    cfg.number = Some(0);
    let dev = Device::open(cfg).unwrap();
    assert!(!dev.is_gone());
    drop(dev);
    let mut cfg = sim.device_config().unwrap();
    cfg.number = Some(1);
    match Device::open(cfg) {
        Err(e @ DriverError::Uio(UioError::NotFound { .. })) => {
            assert!(e.to_string().contains("as uio1"), "{e}")
        }
        other => panic!("{other:?}"),
    }
}
