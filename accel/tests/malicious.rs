//! Bad descriptors are refused before the doorbell (nothing is sent), the device refuses them
//! too when they bypass the driver, and neither side panics on arbitrary descriptor bytes.

mod common;

use common::*;
use proptest::prelude::*;
use rhythm_accel::driver::{Device, DmaBuf, DriverError};
use rhythm_accel::exec::{execute, BusMemory};
use rhythm_accel::spec::{self, DescError, Descriptor, ErrorCode, Opcode, Window};
use rhythm_accel::SimConfig;

/// A valid 3x3 conv on an 8x8x4 input with all operands allocated.
fn valid_conv(dev: &mut Device) -> (Descriptor, [DmaBuf; 5]) {
    let input = dev.alloc(8 * 8 * 4).unwrap();
    let out = dev.alloc(8 * 8 * 4).unwrap();
    let w = dev.alloc(4 * 9 * 4).unwrap();
    let b = dev.alloc(16).unwrap();
    let t = dev.alloc(32).unwrap();
    // {f32 0.5, reserved 0} per channel.
    let table: Vec<u8> = (0..4)
        .flat_map(|_| {
            let mut e = [0u8; 8];
            e[..4].copy_from_slice(&0.5f32.to_le_bytes());
            e
        })
        .collect();
    dev.write(&t, 0, &table).unwrap();
    dev.write(&input, 0, &[3u8; 256]).unwrap();
    dev.write(&w, 0, &[1u8; 144]).unwrap();
    let d = Descriptor {
        opcode: Opcode::Conv2d as u8,
        act_min: -128,
        act_max: 127,
        in_shape: [8, 8, 4],
        out_shape: [8, 8, 4],
        kernel: [3, 3],
        stride: [1, 1],
        pad: [1, 1, 1, 1],
        groups: 1,
        in0: input.bus,
        out: out.bus,
        weights: w.bus,
        bias: b.bus,
        requant: t.bus,
        ..Default::default()
    };
    (d, [input, out, w, b, t])
}

#[test]
fn valid_descriptor_runs() {
    let (_sim, mut dev) = sim_and_device(SimConfig::default());
    let (d, bufs) = valid_conv(&mut dev);
    dev.run(&[d], &[0]).unwrap();
    let mut out = [0u8; 256];
    dev.read(&bufs[1], 0, &mut out).unwrap();
    // Centre pixels: 9 taps · 4 channels · 3 = 108, times 0.5 = 54.
    assert_eq!(out[(4 * 8 + 4) * 4], 54);
}

#[test]
fn malicious_descriptors_are_refused_and_never_sent() {
    let (sim, mut dev) = sim_and_device(SimConfig::default());
    let (good, bufs) = valid_conv(&mut dev);
    let data = dev.data_window();
    let ring_addr = data.start - 4096; // descriptor/completion rings lie below the data window
    type Mutation = Box<dyn Fn(&mut Descriptor)>;
    let mutations: Vec<(&str, Mutation)> = vec![
        ("input outside DMA", Box::new(|d| d.in0 = 0x1000)),
        ("input past end", Box::new(move |d| d.in0 = data.end - 64)),
        ("address overflow", Box::new(|d| d.weights = u64::MAX - 63)),
        ("write into the rings", Box::new(move |d| d.out = ring_addr)),
        ("misaligned output", Box::new(|d| d.out += 1)),
        ("misaligned weights", Box::new(|d| d.weights += 4)),
        ("unknown opcode", Box::new(|d| d.opcode = 99)),
        ("unknown flag", Box::new(|d| d.flags = 0x80)),
        ("wrong output size", Box::new(|d| d.out_shape[0] = 9)),
        ("zero stride", Box::new(|d| d.stride = [0, 1])),
        ("padding >= kernel", Box::new(|d| d.pad = [3, 1, 1, 1])),
        ("groups 0", Box::new(|d| d.groups = 0)),
        ("groups not dividing", Box::new(|d| d.groups = 3)),
        ("kernel too big", Box::new(|d| d.kernel = [16, 16])),
        ("zero point out of range", Box::new(|d| d.in0_zp = 300)),
        (
            "inverted bounds",
            Box::new(|d| (d.act_min, d.act_max) = (10, -10)),
        ),
        ("output over input", Box::new(|d| d.out = d.in0)),
        ("output over weights", Box::new(|d| d.out = d.weights)),
        ("empty tensor", Box::new(|d| d.in_shape = [0, 8, 4])),
        (
            "huge shape reads beyond",
            Box::new(|d| {
                d.in_shape = [4096, 4096, 64];
            }),
        ),
    ];
    for (what, mutate) in &mutations {
        let mut bad = good;
        mutate(&mut bad);
        let jobs = sim.jobs();
        // A bad descriptor anywhere in the list: nothing of the list is sent.
        let e = dev.run(&[good, bad], &[]).unwrap_err();
        assert!(
            matches!(e, DriverError::Refused { index: 1, .. }),
            "{what}: {e}"
        );
        assert_eq!(sim.jobs(), jobs, "{what}: a doorbell was rung");
    }
    // The refused lists never ran the good descriptor either: its output is untouched.
    let mut out = [0u8; 256];
    dev.read(&bufs[1], 0, &mut out).unwrap();
    assert!(out.iter().all(|&b| b == 0));
    // A write window restricted to the activations protects the weights.
    dev.set_write_window(Window {
        start: bufs[1].bus,
        end: bufs[1].bus + 256,
    });
    let mut bad = good;
    bad.out = bufs[2].bus;
    bad.weights = bufs[1].bus; // swap: would overwrite weights
    assert!(matches!(
        dev.validate(&[bad]),
        Err(DriverError::Refused { .. })
    ));
    dev.run(&[good], &[0]).unwrap();
}

struct Ram(Vec<u8>);
impl BusMemory for Ram {
    fn read(&self, addr: u64, len: usize) -> Result<Vec<u8>, ErrorCode> {
        let a = addr as usize;
        self.0
            .get(a..a + len)
            .map(|s| s.to_vec())
            .ok_or(ErrorCode::AddressRange)
    }
    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), ErrorCode> {
        let a = addr as usize;
        self.0
            .get_mut(a..a + data.len())
            .ok_or(ErrorCode::AddressRange)?
            .copy_from_slice(data);
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    /// Arbitrary bytes: decode/validate never panic, and whatever validates executes within
    /// the window without panicking.
    #[test]
    fn arbitrary_descriptors_never_panic(bytes in proptest::collection::vec(any::<u8>(), 128),
                                         op in 1u8..7, small in proptest::collection::vec(0u16..12, 16)) {
        let mut raw = [0u8; 128];
        raw.copy_from_slice(&bytes);
        let _ = Descriptor::decode(&raw).map(|d| spec::validate(&d, Window { start: 0, end: 1 << 16 }, Window { start: 0, end: 1 << 16 }));
        // Mostly-plausible descriptors to reach execution.
        let d = Descriptor {
            opcode: op,
            act_min: -128,
            act_max: 127,
            in_shape: [small[0], small[1], small[2]],
            out_shape: [small[3], small[4], small[5]],
            kernel: [small[6] % 4, small[7] % 4],
            stride: [small[8] % 3, small[9] % 3],
            pad: [small[10] % 2, small[11] % 2, small[10] % 2, small[11] % 2],
            groups: small[12] % 3,
            in0: 0,
            in1: 0x2000,
            out: 0x8000,
            weights: 0x4000,
            bias: 0x6000,
            requant: 0x7000,
            // As an add's multiplier 2^30; as a factor (Pool, Rescale: shift 0) 2.0.
            mult0: 1 << 30,
            mult1: 1 << 29,
            shift0: if small[13] % 2 == 0 { 0 } else { small[13] as u32 },
            p0: small[14] as u32,
            p1: small[15] as u32 + small[14] as u32,
            p2: small[15] as u32,
            ..Default::default()
        };
        let w = Window { start: 0, end: 1 << 16 };
        if spec::validate(&d, w, w).is_ok() {
            let mut ram = Ram(vec![1u8; 1 << 16]);
            let _ = execute(&d, &mut ram);
        }
    }
}

#[test]
fn desc_error_codes_match_device_codes() {
    assert_eq!(DescError::Reserved(120).code(), ErrorCode::Reserved);
    assert_eq!(
        DescError::AddressRange {
            what: "x",
            addr: 0,
            len: 1
        }
        .code(),
        ErrorCode::AddressRange
    );
}
